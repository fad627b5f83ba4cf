"""The four dataset variants of the study (paper 2.4): chunks or stitched, native or straightened.

``chunks_native`` is the dataset itself; :func:`build_variants` builds the other three.

=========================  ========================================================================
variant                    how it is made from the BIDS dataset
=========================  ========================================================================
``chunks_native``          the dataset itself (no copy)
``stitched_native``        the chunks of each session stitched into one whole-spine image (and masks)
``chunks_straightened``    each chunk straightened along its own cord mask
``stitched_straightened``  each stitched image straightened along its whole-spine cord mask
=========================  ========================================================================

Each built variant is a BIDS-like tree under ``<work_dir>/variants/<variant>/`` with the dataset's naming
(stitched images drop the ``chunk`` entity), labels in ``derivatives/labels`` and, for straightened
variants, both warping fields in ``derivatives/warps``::

    <stem>_from-native_to-straight_xfm.nii.gz    on the straight grid (carries native images to straight)
    <stem>_from-straight_to-native_xfm.nii.gz    on the native grid (carries predictions back to native)
    <stem>_from-straight_to-native_xfm.json      {"NativeImage": path of the native image}

The stitched native variant is :func:`sclesion.preprocessing.stitching.bids.stitch_dataset`'s output. Masks are
warped to straight space as the authors did: linear interpolation, then > 0.5. Images keep their extension
(``.nii`` or ``.nii.gz``). Every file is written atomically; the outputs of a job are one set with provenance records
(:mod:`sclesion.core.provenance`): a job whose outputs are up to date with its inputs and field of view is
skipped, any other is done again, so an interrupted or changed build resumes where it stopped and never
mixes runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from sclesion.core.atomic import clean_stale_temporaries, save_nifti, write_text
from sclesion.core.conventions import REGION_THRESHOLD, STRAIGHT_FOV_HALF_WIDTH_MM
from sclesion.core.errors import InputError
from sclesion.core.names import split_extension
from sclesion.core.nifti import load_checked, validate_mask_against
from sclesion.core.provenance import OutputSet
from sclesion.core.workers import check_jobs, process_pool
from sclesion.data.bids import LABEL_SUFFIXES, bids_root_of, discover
from sclesion.preprocessing.stitching.bids import stitch_dataset, stitched_paths, write_dataset_files
from sclesion.preprocessing.straightening.straighten import Straightening, check_fov, load_straightening, straighten

VARIANTS: tuple[str, ...] = ("chunks_native", "stitched_native", "chunks_straightened", "stitched_straightened")


@dataclass(frozen=True)
class Job:
    """One output image of a variant and the native files it is made from.

    Attributes
    ----------
    variant : str
        ``chunks_straightened`` or ``stitched_straightened``.
    participant_id, session : str
        BIDS entities (session may be "").
    chunk : str
        Chunk number as text, "" for stitched outputs.
    source, cord, lesion : Path
        The native image to straighten and its cord and lesion masks.
    out_image : Path
        The variant's image.
    """

    variant: str
    participant_id: str
    session: str
    chunk: str
    source: Path
    cord: Path
    lesion: Path
    out_image: Path

    @property
    def root(self) -> Path:
        """Root of the variant tree this job writes into."""
        for parent in self.out_image.parents:
            if parent.name == self.variant:
                return parent
        raise AssertionError(f"{self.out_image} is not inside a {self.variant} folder")

    def derivative(self, kind: str, suffix: str) -> Path:
        """Path of a derivative (``labels``, ``warps``) of the output image with the given suffix."""
        stem, _ = split_extension(self.out_image.name)
        folder = self.root / "derivatives" / kind / self.out_image.parent.relative_to(self.root)
        return folder / f"{stem}_{suffix}"

    @property
    def label_outputs(self) -> dict[str, Path]:
        """Output cord and lesion masks, by kind."""
        return {kind: self.derivative("labels", f"{sfx}.nii.gz") for kind, sfx in LABEL_SUFFIXES.items()}

    @property
    def marker(self) -> Path:
        """The sidecar of the inverse field, naming the native image (see :func:`inverse_warp`)."""
        return self.derivative("warps", "from-straight_to-native_xfm.json")

    @property
    def outputs(self) -> list[Path]:
        """Every output of the job: image, masks, both fields and the sidecar."""
        return [self.out_image, *self.label_outputs.values(),
                self.derivative("warps", "from-native_to-straight_xfm.nii.gz"),
                self.derivative("warps", "from-straight_to-native_xfm.nii.gz"), self.marker]

    def output_set(self, fov_mm: float) -> OutputSet:
        """The job's outputs with what they are made from (for skipping up-to-date work)."""
        return OutputSet("variants", self.outputs, {"image": self.source, "cord": self.cord, "lesion": self.lesion},
                         {"variant": self.variant, "fov_mm": float(fov_mm)})


def variant_root(variant: str, bids_root: str | Path, work_dir: str | Path) -> Path:
    """Root folder of a variant: the BIDS dataset for ``chunks_native``, else ``<work_dir>/variants/<variant>``."""
    if variant not in VARIANTS:
        raise InputError(f"unknown dataset variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if variant == "chunks_native":
        return Path(bids_root)
    return Path(work_dir) / "variants" / variant


def inverse_warp(straight_image: str | Path) -> tuple[Path, Path]:
    """The straight->native field of a straightened image and the native image it came from.

    Parameters
    ----------
    straight_image : str or Path
        An image of a straightened variant, ``<variant root>/sub-<id>[/ses-<ses>]/anat/<stem>.nii.gz``.

    Returns
    -------
    field, native_image : Path
        ``derivatives/warps/.../<stem>_from-straight_to-native_xfm.nii.gz`` and the native image recorded in
        its JSON sidecar.
    """
    straight_image = Path(straight_image)
    root = bids_root_of(straight_image)
    stem, _ = split_extension(straight_image.name)
    folder = root / "derivatives" / "warps" / straight_image.parent.relative_to(root)
    sidecar = folder / f"{stem}_from-straight_to-native_xfm.json"
    if not sidecar.is_file():
        raise InputError("no inverse warping field for this straightened image (expected "
                         f"{sidecar.relative_to(root)}); rebuild the variant", straight_image)
    native = Path(json.loads(sidecar.read_text())["NativeImage"])
    return sidecar.with_name(f"{stem}_from-straight_to-native_xfm.nii.gz"), native


def read_straightening(straight_image: str | Path, cord_mask: str | Path) -> Straightening:
    """The :class:`~sclesion.preprocessing.straightening.straighten.Straightening` of a straightened variant's
    image, from the fields kept beside it (nothing is straightened again).

    Parameters
    ----------
    straight_image : str or Path
        An image of a straightened variant.
    cord_mask : str or Path
        The native cord mask it was straightened along (the dataset's, or the stitched native variant's).
    """
    straight_image = Path(straight_image)
    backward, native = inverse_warp(straight_image)
    sidecar = json.loads(backward.with_name(backward.name.replace(".nii.gz", ".json")).read_text())
    forward = backward.with_name(backward.name.replace("from-straight_to-native", "from-native_to-straight"))
    fov_mm = float(sidecar.get("FieldOfViewHalfWidthMM", STRAIGHT_FOV_HALF_WIDTH_MM))
    return load_straightening(straight_image, forward, backward, native, cord_mask, fov_mm=fov_mm)


def plan_jobs(dataset: pd.DataFrame, bids_root: Path, work_dir: Path, variants: tuple[str, ...]) -> list[Job]:
    """List the straightening jobs of the requested variants from a :func:`sclesion.data.bids.discover` table.

    The stitched straightened jobs read the stitched native outputs, which must be built first.
    """
    jobs: list[Job] = []
    roots = {v: variant_root(v, bids_root, work_dir) for v in VARIANTS}
    table = dataset.assign(session=dataset["session"].fillna(""))
    for (subject, session), group in table.groupby(["participant_id", "session"], sort=True):
        group = group.sort_values("chunk")
        folder = Path(group["image"].iloc[0]).parent.relative_to(bids_root)
        if "chunks_straightened" in variants:
            for row in group.itertuples(index=False):
                jobs.append(Job("chunks_straightened", subject, session, str(row.chunk), Path(row.image),
                                Path(row.cord), Path(row.lesion),
                                roots["chunks_straightened"] / folder / Path(row.image).name))
        if "stitched_straightened" in variants:
            stitched = stitched_paths(group["image"].iloc[0], bids_root, roots["stitched_native"])
            jobs.append(Job("stitched_straightened", subject, session, "", stitched["image"], stitched["cord"],
                            stitched["lesion"], roots["stitched_straightened"] / folder / stitched["image"].name))
    return jobs


def run_job(job: Job, fov_mm: float = STRAIGHT_FOV_HALF_WIDTH_MM) -> str:
    """Build one output of a variant; return ``"skipped"`` if it was up to date, else ``"built"``."""
    outputs = job.output_set(fov_mm)
    if outputs.up_to_date():
        return "skipped"
    labels = job.label_outputs
    image = load_checked(job.source, "image")
    cord, lesion = validate_mask_against(image, job.cord), validate_mask_against(image, job.lesion)
    result = straighten(image, cord, fov_mm=fov_mm)
    with outputs.writing():
        save_nifti(result.image, job.out_image)
        for kind, mask in (("cord", cord), ("lesion", lesion)):
            save_nifti(result.to_straight(mask, interp="linear", threshold=REGION_THRESHOLD), labels[kind])
        save_nifti(result.native_to_straight, job.derivative("warps", "from-native_to-straight_xfm.nii.gz"))
        save_nifti(result.straight_to_native, job.derivative("warps", "from-straight_to-native_xfm.nii.gz"))
        write_text(json.dumps({"NativeImage": str(job.source.resolve()), "FieldOfViewHalfWidthMM": fov_mm},
                              indent=2) + "\n", job.marker)
    return "built"


def _run_safely(job: Job, fov_mm: float) -> str:
    try:
        return run_job(job, fov_mm)
    except InputError as err:
        return f"failed: {err}"


def _stitch_sessions(dataset: pd.DataFrame, bids_root: Path, work_dir: Path, progress: bool) -> list[dict]:
    """Build the stitched native variant (:func:`sclesion.preprocessing.stitching.bids.stitch_dataset`); one row
    per session."""
    root = variant_root("stitched_native", bids_root, work_dir)
    table = stitch_dataset(bids_root, root, participants=sorted(dataset["participant_id"].unique()), progress=progress)
    return [{"variant": "stitched_native", "participant_id": row.participant_id, "session": row.session or "",
             "chunk": "", "image": str(row.image), "status": "skipped" if row.status == "up to date" else "built"}
            for row in table.itertuples(index=False)]


def build_variants(
    bids_root: str | Path,
    work_dir: str | Path,
    variants: tuple[str, ...] = VARIANTS,
    sites: tuple[str, ...] | None = ("TUM",),
    fov_mm: float = STRAIGHT_FOV_HALF_WIDTH_MM,
    n_jobs: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """Build the requested dataset variants, skipping finished outputs.

    Parameters
    ----------
    bids_root : str or Path
        The native BIDS dataset (chunks with ``derivatives/labels``).
    work_dir : str or Path
        Variants go to ``<work_dir>/variants/<variant>/``.
    variants : tuple of str
        Which of :data:`VARIANTS` to build (``chunks_native`` needs no building).
    sites : tuple of str, optional
        Only subjects of these sites (``participants.tsv`` column ``site``); None for all. The study built
        the variants of the TUM dataset, whose sessions hold three chunks.
    fov_mm : float
        Half width of the straight in-plane field of view (mm).
    n_jobs : int
        Parallel worker processes.
    progress : bool
        Show tqdm progress bars.

    Returns
    -------
    pandas.DataFrame
        One row per output image: variant, participant_id, session, chunk, image, status (``built``,
        ``skipped`` or ``failed: <reason>``). Straightening failures are reported, not raised, so one bad scan
        does not stop the build; stitching raises :class:`InputError` on bad chunks.
    """
    bids_root, work_dir = Path(bids_root), Path(work_dir)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise InputError(f"unknown dataset variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    check_jobs(n_jobs)
    check_fov(fov_mm)
    dataset = discover(bids_root, require_labels=True)
    for variant in variants:
        clean_stale_temporaries(variant_root(variant, bids_root, work_dir), recursive=variant != "chunks_native")
    if sites is not None:
        dataset = dataset[dataset["site"].isin(sites)]
        if dataset.empty:
            raise InputError(f"no image of the sites {list(sites)} (participants.tsv column 'site')", bids_root)
    rows = []
    if {"stitched_native", "stitched_straightened"} & set(variants):
        rows += _stitch_sessions(dataset, bids_root, work_dir, progress)  # the stitched straightened variant reads it
    jobs = plan_jobs(dataset, bids_root, work_dir, tuple(variants))
    for variant in sorted({job.variant for job in jobs}):
        write_dataset_files(bids_root, variant_root(variant, bids_root, work_dir), variant.replace("_", " "),
                            {"Name": "sclesion variants", "Description": f"cord straightened (+-{fov_mm} mm)"})
    with process_pool(n_jobs) if n_jobs > 1 else _InProcess() as pool:
        statuses = pool.map(_run_safely, jobs, [fov_mm] * len(jobs))
        for job, status in tqdm(zip(jobs, statuses), total=len(jobs), desc="straightening", unit="image",
                                disable=not progress):
            rows.append({"variant": job.variant, "participant_id": job.participant_id, "session": job.session,
                         "chunk": job.chunk, "image": str(job.out_image), "status": status})
    return pd.DataFrame(rows, columns=["variant", "participant_id", "session", "chunk", "image", "status"])


class _InProcess:
    """A stand-in for an executor that runs ``map`` lazily in this process (``n_jobs=1``)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @staticmethod
    def map(fn, *iterables):
        return map(fn, *iterables)

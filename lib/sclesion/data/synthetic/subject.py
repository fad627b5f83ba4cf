"""One synthetic subject: plan every random choice (cheap), then render and write its files.

Randomness is split in two independent streams seeded by ``(cohort seed, site, subject number)``: one for the
plan (anatomy, lesions, sessions, geometry, scanner) and one for noise. Adding subjects to a site or changing
another site therefore leaves a subject unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from sclesion.core.atomic import save_nifti, write_text
from sclesion.data.synthetic import layout
from sclesion.data.synthetic.anatomy import sample_anatomy
from sclesion.data.synthetic.geometry import TRUTH_RANGE, Chunk, Grid, plan_chunks, truth_grid
from sclesion.data.synthetic.lesions import Lesion, evolve, sample_baseline
from sclesion.data.synthetic.model import SessionModel
from sclesion.data.synthetic.render import add_rician_noise, bias_field, render_grid
from sclesion.data.synthetic.spec import GENERATOR_VERSION, SITES

#: Earliest baseline date; baselines are spread over the following four years.
FIRST_BASELINE = dt.date(2016, 1, 1)

#: Fraction of female subjects (paper: 209 of 317 TUM patients).
FEMALE_FRACTION = 209 / 317

#: Partial-volume step for the reference-space truth: larger than its voxels, so each voxel is sampled once at
#: its centre (the truth is fine enough without partial volume, and twice as fast to render).
TRUTH_FINE_MM = 100.0

#: Spacing (mm) of the points of the written true centerline.
CENTERLINE_STEP_MM = 1.0


@dataclass
class SessionPlan:
    """One session: its date label, model, lesion statuses, scanner, resolution, chunks and bias fields."""

    session: str
    model: SessionModel
    lesion_status: list[tuple[Lesion, str]]
    scanner: dict
    repetition_time_s: float
    echo_time_s: float
    inplane_mm: float
    slice_mm: float
    chunks: list[Chunk]
    bias: list[dict] = field(default_factory=list)


@dataclass
class SubjectPlan:
    """One subject: id (without ``sub-``), site, 1-based number within the site, demographics and sessions."""

    subject: str
    site: str
    number: int
    sex: str
    age: int
    sessions: list[SessionPlan]


def subject_rngs(seed: int, site: str, number: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The plan and noise generators of subject ``number`` (1-based) of ``site``."""
    sequence = np.random.SeedSequence([int(seed), SITES.index(site), int(number)])
    plan_seq, noise_seq = sequence.spawn(2)
    return np.random.default_rng(plan_seq), np.random.default_rng(noise_seq)


def subject_id(site: str, number: int) -> str:
    """``"tum001"`` for the first TUM-like subject."""
    return f"{site.lower()}{number:03d}"


def plan_subject(spec: dict, site: str, number: int) -> SubjectPlan:
    """Draw every random choice of one subject except the noise; no rendering (fast).

    Parameters
    ----------
    spec : dict
        A loaded cohort spec (:func:`sclesion.data.synthetic.spec.load_spec`).
    site : str
        "TUM", "NYU", "BWH" or "UCSF".
    number : int
        1-based subject number within the site.
    """
    params = spec["site_params"][site]
    acquisition = params["acquisition"]
    rng, _ = subject_rngs(spec["seed"], site, number)
    anatomy = sample_anatomy(rng)
    sex = "F" if rng.uniform() < FEMALE_FRACTION else "M"
    age = int(np.clip(round(rng.normal(36.0, 10.0)), 18, 70))
    baseline_lesions, load = sample_baseline(anatomy, spec["lesions"], rng)
    coverage = params["coverage"][int(rng.integers(len(params["coverage"])))]
    date = FIRST_BASELINE + dt.timedelta(days=int(rng.integers(0, 4 * 365)))
    scanners = params["scanners"]
    weights = np.array([s["weight"] for s in scanners], dtype=float)
    sessions = []
    for index in range(params["sessions"]):
        if index == 0:
            status = [(lesion, "baseline") for lesion in baseline_lesions]
        else:
            date += dt.timedelta(days=int(round(rng.uniform(*params["followup_years"]) * 365.25)))
            status = evolve(baseline_lesions, load, anatomy, spec["lesions"], rng)
        present = tuple(lesion for lesion, s in status if s != "vanished")
        # patient position in the scanner: spine 40-60 mm posterior of the isocentre, C1 60-120 mm above it
        offset = (float(rng.uniform(-8, 8)), float(rng.uniform(-60, -40)), float(rng.uniform(60, 120)))
        model = SessionModel(anatomy, present, offset, dict(params["contrast"]), float(rng.uniform(*params["gain"])))
        scanner = scanners[int(rng.choice(len(scanners), p=weights / weights.sum()))]
        inplane = float(acquisition["inplane_mm"][int(rng.integers(len(acquisition["inplane_mm"])))])
        thickness = float(acquisition["slice_mm"][int(rng.integers(len(acquisition["slice_mm"])))])
        plan = SessionPlan(
            session=date.strftime("%Y%m%d"),
            model=model,
            lesion_status=status,
            scanner=scanner,
            repetition_time_s=round(scanner["tr_ms"] * rng.uniform(0.9, 1.1) / 1000.0, 3),
            echo_time_s=round(scanner["te_ms"] * rng.uniform(0.95, 1.05) / 1000.0, 4),
            inplane_mm=inplane,
            slice_mm=thickness,
            chunks=plan_chunks(model, coverage, acquisition, inplane, thickness, rng),
        )
        for _ in plan.chunks:
            directions = rng.normal(size=(3, 3))
            plan.bias.append({
                "amplitude": float(params["bias"]["amplitude"]),
                "wavelengths_mm": rng.uniform(*params["bias"]["wavelength_mm"], size=3),
                "directions": directions / np.linalg.norm(directions, axis=1, keepdims=True),
                "phases": rng.uniform(0, 2 * np.pi, size=3),
            })
        sessions.append(plan)
    return SubjectPlan(subject_id(site, number), site, number, sex, age, sessions)


def _nifti(data: np.ndarray, grid: Grid) -> nib.Nifti1Image:
    img = nib.Nifti1Image(data, grid.affine)
    img.set_qform(grid.affine, code=1)
    img.set_sform(grid.affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    return img


def _contains(grid: Grid, point: np.ndarray) -> bool:
    index = np.linalg.inv(grid.affine) @ np.append(point, 1.0)
    return bool(np.all(index[:3] >= -0.5) and np.all(index[:3] <= np.array(grid.shape) - 0.5))


def _lesion_table(plan: SessionPlan) -> str:
    lines = ["lesion_id\tstatus\tregion\tchunk\tvolume_mm3\tx_mm\ty_mm\tz_mm\tlength_mm"]
    for lesion, status in plan.lesion_status:
        centre = plan.model.lesion_centre(lesion)
        if status == "vanished":
            chunk, volume = "n/a", 0.0
        else:
            inside = [c.chunk for c in plan.chunks if _contains(c.grid, centre)]
            chunk, volume = (str(inside[0]) if inside else "n/a"), lesion.volume_mm3
        lines.append(f"{lesion.lesion_id}\t{status}\t{lesion.region}\t{chunk}\t{volume:.3f}\t{centre[0]:.3f}\t"
                     f"{centre[1]:.3f}\t{centre[2]:.3f}\t{2 * lesion.rz:.3f}")
    return "\n".join(lines) + "\n"


def _centerline_table(model: SessionModel) -> str:
    top = TRUTH_RANGE[0] * model.anatomy.scale
    levels = np.arange(top, -model.anatomy.length_mm, -CENTERLINE_STEP_MM)
    levels = np.append(levels, -model.anatomy.length_mm)
    points = model.centerline(levels)
    rows = ["x_mm\ty_mm\tz_mm"] + [f"{x:.3f}\t{y:.3f}\t{z:.3f}" for x, y, z in points]
    return "\n".join(rows) + "\n"


def _sidecar(plan: SessionPlan) -> str:
    sidecar = {
        "Manufacturer": plan.scanner["manufacturer"],
        "MagneticFieldStrength": float(plan.scanner["field_T"]),
        "RepetitionTime": plan.repetition_time_s,
        "EchoTime": plan.echo_time_s,
        "SliceThickness": plan.slice_mm,
        "Synthetic": True,
    }
    return json.dumps(sidecar, indent=2) + "\n"


def write_subject(spec: dict, plan: SubjectPlan, root: str | Path) -> None:
    """Render and write all files of one planned subject under the BIDS ``root``."""
    root = Path(root)
    params = spec["site_params"][plan.site]
    _, noise_rng = subject_rngs(spec["seed"], plan.site, plan.number)
    for session in plan.sessions:
        model = session.model
        factor = params["noise_factor_1p5T"] if session.scanner["field_T"] < 2 else 1.0
        sigma = params["noise_sigma"] * model.contrast["csf"] * model.gain * factor
        for chunk, bias in zip(session.chunks, session.bias):
            truth = render_grid(model, chunk.grid.affine, chunk.grid.shape)
            field_ = bias_field(chunk.grid.affine, chunk.grid.shape, **bias)
            image = add_rician_noise(truth.image * field_, sigma, noise_rng)
            root_args = (root, plan.subject, session.session, chunk.chunk)
            image_path = layout.chunk_image(*root_args)
            save_nifti(_nifti(image, chunk.grid), image_path)
            write_text(_sidecar(session), image_path.with_name(image_path.name.replace(".nii.gz", ".json")))
            save_nifti(_nifti(truth.cord, chunk.grid), layout.chunk_label(*root_args, "seg"))
            save_nifti(_nifti(truth.lesion, chunk.grid), layout.chunk_label(*root_args, "lesion"))
        files = layout.truth_files(root, plan.subject, session.session)
        grid = truth_grid(model, spec["truth"])
        truth = render_grid(model, grid.affine, grid.shape, fine_mm=TRUTH_FINE_MM)
        save_nifti(_nifti(truth.image, grid), files["image"])
        save_nifti(_nifti(truth.cord, grid), files["cord"])
        save_nifti(_nifti(truth.lesion, grid), files["lesion"])
        write_text(_centerline_table(model), files["centerline"])
        write_text(_lesion_table(session), files["lesions"])
        anatomy = {
            "Synthetic": True,
            "GeneratorVersion": GENERATOR_VERSION,
            "participant_id": f"sub-{plan.subject}",
            "session_id": f"ses-{session.session}",
            "site": plan.site,
            "vertebra_tops_level_mm": model.anatomy.vertebra_tops(),
            "truth_fine_mm": TRUTH_FINE_MM,
            "model": model.to_dict(),
        }
        write_text(json.dumps(anatomy, indent=2) + "\n", files["anatomy"])
    rows = ["session_id\tyears_since_baseline\tmanufacturer\tfield_T"]
    first = dt.datetime.strptime(plan.sessions[0].session, "%Y%m%d")
    for session in plan.sessions:
        years = (dt.datetime.strptime(session.session, "%Y%m%d") - first).days / 365.25
        rows.append(f"ses-{session.session}\t{years:.2f}\t{session.scanner['manufacturer']}\t"
                    f"{float(session.scanner['field_T']):.1f}")
    write_text("\n".join(rows) + "\n", root / f"sub-{plan.subject}" / f"sub-{plan.subject}_sessions.tsv")

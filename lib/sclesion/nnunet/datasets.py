"""The study's nnU-Net datasets (and one comparison model's) and where their files live under ``work_dir``.

===  ===========================  ======================  ===============  ==================================
id   nnU-Net name                 key                     built from       training sites
===  ===========================  ======================  ===============  ==================================
901  Dataset901_ChunksNative      chunks_native           chunks_native    TUM
902  Dataset902_StitchedNative    stitched_native         stitched_native  TUM
903  Dataset903_ChunksStraight    chunks_straightened     chunks_straight. TUM
904  Dataset904_StitchedStraight  stitched_straightened   stitched_straig. TUM
910  Dataset910_ChunksTwoSites    chunks_two_sites        chunks_native    TUM, NYU
911  Dataset911_ChunksCervical    chunks_cervical         chunks_native    TUM, cervical chunks (1) only
===  ===========================  ======================  ===============  ==================================

Training cases: the split's ``train`` subjects of the training sites (for 911 only their cervical chunks: a
model in the situation of tools trained mostly on cervical data, a comparison method of the cord chapter). Test cases: every ``test`` subject
found in the variant, one test set per site (the TUM-like test subjects and the unseen BWH- and UCSF-like
sites), kept apart as ``imagesTs_<site>``.

Folders (all under ``<work_dir>/nnunet``)::

    raw/            nnUNet_raw           one folder per dataset, written by :mod:`sclesion.nnunet.convert`
    preprocessed/   nnUNet_preprocessed  fingerprints, plans, preprocessed arrays
    results/        nnUNet_results       trained models: <dataset>/<trainer>__<plans>__<configuration>/fold_<k>
    predictions/    test-set predictions: <dataset>/<model>/<folds>/<site>/{labelmaps,masks}
    logs/           the output of every nnU-Net step run in its own process
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sclesion.core.errors import InputError

@dataclass(frozen=True)
class DatasetSpec:
    """One nnU-Net dataset of the study.

    Attributes
    ----------
    dataset_id : int
        nnU-Net dataset id (901-904, 910, 911).
    key : str
        Short name used in profiles and tables, e.g. ``"chunks_native"``.
    variant : str
        The dataset variant (one of :data:`sclesion.preprocessing.variants.VARIANTS`) whose images it holds.
    train_sites : tuple of str
        Sites (``participants.tsv`` column ``site``) whose ``train`` subjects are training cases.
    title : str
        CamelCase part of the nnU-Net name.
    train_chunks : tuple of int, optional
        Chunks (1 cervical, 2 thoracic, 3 lumbar) that train; default all. Test sets keep every chunk.
    """

    dataset_id: int
    key: str
    variant: str
    train_sites: tuple[str, ...]
    title: str
    train_chunks: tuple[int, ...] | None = None

    @property
    def name(self) -> str:
        """nnU-Net dataset name, e.g. ``"Dataset901_ChunksNative"``."""
        return f"Dataset{self.dataset_id:03d}_{self.title}"

    @property
    def straightened(self) -> bool:
        """True when predictions must be warped back to native space."""
        return self.variant.endswith("straightened")


DATASETS: dict[str, DatasetSpec] = {
    spec.key: spec
    for spec in (
        DatasetSpec(901, "chunks_native", "chunks_native", ("TUM",), "ChunksNative"),
        DatasetSpec(902, "stitched_native", "stitched_native", ("TUM",), "StitchedNative"),
        DatasetSpec(903, "chunks_straightened", "chunks_straightened", ("TUM",), "ChunksStraight"),
        DatasetSpec(904, "stitched_straightened", "stitched_straightened", ("TUM",), "StitchedStraight"),
        DatasetSpec(910, "chunks_two_sites", "chunks_native", ("TUM", "NYU"), "ChunksTwoSites"),
        DatasetSpec(911, "chunks_cervical", "chunks_native", ("TUM",), "ChunksCervical", train_chunks=(1,)),
    )
}


def dataset_spec(key_or_id: str | int) -> DatasetSpec:
    """Look a dataset up by key (``"chunks_native"``), id (``901``, ``"901"``) or nnU-Net name.

    Raises
    ------
    InputError
        If no dataset matches.
    """
    for spec in DATASETS.values():
        if str(key_or_id) in (spec.key, str(spec.dataset_id), spec.name):
            return spec
    known = ", ".join(f"{s.key} ({s.dataset_id})" for s in DATASETS.values())
    raise InputError(f"unknown nnU-Net dataset {key_or_id!r}; choose from {known}")


@dataclass(frozen=True)
class NnunetFolders:
    """The nnU-Net folders of one ``work_dir`` (see the module docstring)."""

    work_dir: Path

    @property
    def base(self) -> Path:
        return Path(self.work_dir) / "nnunet"

    @property
    def raw(self) -> Path:
        return self.base / "raw"

    @property
    def preprocessed(self) -> Path:
        return self.base / "preprocessed"

    @property
    def results(self) -> Path:
        return self.base / "results"

    @property
    def predictions(self) -> Path:
        return self.base / "predictions"

    @property
    def logs(self) -> Path:
        return self.base / "logs"

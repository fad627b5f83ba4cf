"""Straightening every image of a BIDS table: each image with its cord and lesion masks, outputs mirrored.

For every row of a :func:`sclesion.dataset.discover` table (chunks, or stitched images), the image is
straightened along its cord mask and both masks are warped into straight space (linear, then > 0.5), all by
:func:`sclesion.straightening.straighten_files`. The outputs mirror the input's folders::

    <out_root>/sub-<id>/ses-<ses>/anat/<image name>                               straightened image
    <out_root>/sub-<id>/ses-<ses>/anat/<image stem>_seg-manual.nii.gz             cord mask, straight
    <out_root>/sub-<id>/ses-<ses>/anat/<image stem>_lesion-manual.nii.gz          lesion mask, straight
    <out_root>/sub-<id>/ses-<ses>/anat/<image stem>_from-native_to-straight_xfm.nii.gz
    <out_root>/sub-<id>/ses-<ses>/anat/<image stem>_from-straight_to-native_xfm.nii.gz
    <out_root>/sub-<id>/ses-<ses>/anat/<image stem>_centerline.tsv

Existing outputs are kept, so a rerun only fills in what is missing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from sclesion.straightening import straighten_files

#: Output columns added by :func:`straighten_table`.
OUTPUT_COLUMNS: list[str] = [
    "straight_image", "straight_cord", "straight_lesion", "native_to_straight", "straight_to_native", "centerline",
]


def straighten_table(
    table: pd.DataFrame, root: str | Path, out_root: str | Path, fov_mm: float = 35.0, progress: bool = True
) -> pd.DataFrame:
    """Straighten every image of a table; return the table with the output paths added.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows with ``image``, ``cord`` and ``lesion`` paths (e.g. from :func:`sclesion.dataset.discover`, or
        the table of :func:`sclesion.stitching_bids.stitch_dataset`); rows without a cord mask are skipped.
    root : str or Path
        Folder the images' paths are relative to (the BIDS root); their sub-folders are mirrored.
    out_root : str or Path
        Output folder.
    fov_mm : float
        Half width of the straight in-plane field of view (mm).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    pandas.DataFrame
        The rows that have a cord mask, with :data:`OUTPUT_COLUMNS` (``straight_lesion`` None without a lesion
        mask).
    """
    root, out_root = Path(root), Path(out_root)
    rows = table[table["cord"].notna()].reset_index(drop=True)
    outputs = []
    for row in tqdm(rows.itertuples(index=False), total=len(rows), desc="straighten", unit="image", disable=not progress):
        image = Path(row.image)
        masks = [Path(row.cord)] + ([Path(row.lesion)] if isinstance(row.lesion, (str, Path)) else [])
        out_dir = out_root / image.parent.relative_to(root)
        written = straighten_files(image, row.cord, out_dir, fov_mm=fov_mm, masks=tuple(masks))
        straight_masks = list(written.masks.values())
        outputs.append({
            "straight_image": written.image,
            "straight_cord": straight_masks[0],
            "straight_lesion": straight_masks[1] if len(straight_masks) > 1 else None,
            "native_to_straight": written.native_to_straight,
            "straight_to_native": written.straight_to_native,
            "centerline": written.centerline,
        })
    return pd.concat([rows, pd.DataFrame(outputs, columns=OUTPUT_COLUMNS)], axis=1)

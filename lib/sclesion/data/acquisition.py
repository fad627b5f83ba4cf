"""Acquisition parameters of every image: scanner from the JSON sidecar, geometry from the NIfTI header.

Units: TR and TE in ms (sidecars store seconds), voxel sizes in mm, listed in RPI axis order (R-L, P-A, I-S)
whatever the file's storage order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sclesion.core.errors import InputError
from sclesion.core.nifti import load_nifti, shape_rpi, voxel_sizes_rpi
from sclesion.data.bids import sidecar_path


def read_sidecar(image: str | Path) -> dict:
    """The JSON sidecar of an image as a dict ({} when absent).

    Raises
    ------
    InputError
        If the sidecar exists but is not a JSON object.
    """
    path = sidecar_path(image)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err})", path) from None
    if not isinstance(data, dict):
        raise InputError("a sidecar must be a JSON object", path)
    return data


def acquisition_records(dataset: pd.DataFrame) -> pd.DataFrame:
    """One row per image: scanner (from the JSON sidecar) and geometry (from the NIfTI header only).

    Returns
    -------
    pandas.DataFrame
        Columns ``participant_id``, ``session``, ``chunk``, ``site``, ``manufacturer``, ``field_T``,
        ``tr_ms``, ``te_ms`` (sidecar RepetitionTime and EchoTime converted from s to ms; NA if absent),
        ``vox_rl_mm``, ``vox_pa_mm``, ``vox_is_mm`` (voxel size in RPI axis order) and ``nx``, ``ny``, ``nz``
        (matrix size in RPI axis order).
    """
    rows = []
    for row in dataset.itertuples(index=False):
        header = load_nifti(row.image)
        sidecar = read_sidecar(row.image)
        sizes = np.round(voxel_sizes_rpi(header.affine), 4)  # headers store float32: 0.6 reads 0.6000000238
        shape = shape_rpi(header.shape, header.affine)
        rows.append({
            "participant_id": row.participant_id,
            "session": row.session,
            "chunk": row.chunk,
            "site": row.site,
            "manufacturer": manufacturer(sidecar.get("Manufacturer")),
            "field_T": sidecar.get("MagneticFieldStrength"),
            "tr_ms": _seconds_to_ms(sidecar.get("RepetitionTime")),
            "te_ms": _seconds_to_ms(sidecar.get("EchoTime")),
            "vox_rl_mm": sizes[0], "vox_pa_mm": sizes[1], "vox_is_mm": sizes[2],
            "nx": shape[0], "ny": shape[1], "nz": shape[2],
        })
    records = pd.DataFrame(rows)
    records["chunk"] = records["chunk"].astype("Int64")
    for column in ("field_T", "tr_ms", "te_ms"):
        records[column] = pd.to_numeric(records[column]).astype(float)
    return records


def manufacturer(name) -> str | None:
    """Vendor names as in Table 1 ("SIEMENS" -> "Siemens", "GE MEDICAL SYSTEMS" -> "GE", "Philips Medical ...")."""
    if not name:
        return None
    text = str(name).strip()
    for vendor in ("Siemens", "Philips", "GE", "Canon", "Toshiba", "Hitachi"):
        if text.upper().startswith(vendor.upper()):
            return vendor
    return text


def _seconds_to_ms(value) -> float | None:
    return None if value is None else round(float(value) * 1000.0, 3)

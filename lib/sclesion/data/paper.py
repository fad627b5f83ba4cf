"""The one reader of the paper's own numbers and tables (``data_manifest/paper/``), printed beside ours.

The files are the paper's text numbers and tables transcribed as CSV:

=================================  ===============================================================
file                               reader
=================================  ===============================================================
``text_numbers.csv``               :func:`numbers`: every number quoted in the text, by quantity
``table1_sites.csv``               :func:`table1`: sites, scanners and acquisition parameters
``table2_site_generalization.csv`` :func:`table2`: the single-site chunks model per test site
``tableA1_nnunet_plans.csv``       :func:`table_a1`: nnU-Net's plans per variant and configuration
=================================  ===============================================================
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sclesion.core.errors import InputError
from sclesion.core.paths import manifest_dir


def paper_dir() -> Path:
    """``data_manifest/paper/`` of the repository."""
    return manifest_dir() / "paper"


def read(name: str, **read_csv) -> pd.DataFrame:
    """One table of ``data_manifest/paper/`` (``name`` with or without ``.csv``), read with pandas.

    Raises
    ------
    InputError
        If the file is missing or not a CSV table.
    """
    path = paper_dir() / (name if name.endswith(".csv") else f"{name}.csv")
    if not path.is_file():
        raise InputError("the paper's table is missing", path)
    try:
        return pd.read_csv(path, **read_csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"not a CSV table ({err})", path) from None


def numbers() -> pd.Series:
    """The numbers quoted in the paper's text (``text_numbers.csv``), indexed by ``quantity``."""
    return read("text_numbers").set_index("quantity")["value"]


def table1() -> pd.DataFrame:
    """The paper's Table 1 (``table1_sites.csv``): one row per site and scanner."""
    return read("table1_sites")


def table_a1() -> pd.DataFrame:
    """The paper's Table A1 (``tableA1_nnunet_plans.csv``), every value as text, as printed."""
    return read("tableA1_nnunet_plans", dtype=str)


def table2(site: str = "TUM") -> pd.DataFrame:
    """The paper's Table 2 values of the model trained on the TUM chunks ("ChunksNative SingleSite").

    Returns
    -------
    pandas.DataFrame
        Indexed by metric (``Dice``, ``NSD``, ``PPVL``, ``F1ScoreL``, ``abs_delta_lesion_count``; all lesion
        metrics, per stacked session), columns ``mean``, ``sd``, ``n_images``. Empty for a site not in the table.
    """
    table = read("table2_site_generalization")
    table = table[table["test_site"] == site]
    return pd.DataFrame({"mean": table["chunksnative_singlesite_mean"].to_numpy(),
                         "sd": table["chunksnative_singlesite_sd"].to_numpy(),
                         "n_images": table["n_images"].to_numpy()}, index=pd.Index(table["metric"], name="metric"))

"""The one reader of the paper's own numbers and tables (``data_manifest/paper/``), printed beside ours.

The files are the paper's text numbers and tables transcribed as CSV:

=================================  ===============================================================
file                               reader
=================================  ===============================================================
``text_numbers.csv``               :func:`numbers`: every number quoted in the text, by quantity
``table1_sites.csv``               :func:`table1`: sites, scanners and acquisition parameters
``table2_site_generalization.csv`` :func:`table2`: the single-site chunks model per test site
``tableA1_nnunet_plans.csv``       :func:`table_a1`: nnU-Net's plans per variant and configuration
``table2_site_generalization.csv`` :func:`table2_full`: every column of Table 2 (the three methods)
``tableA2_*.csv``, ``tableA3_*.csv`` :func:`appendix_table`: Tables A2 and A3 as printed
``fig6_significant_pairs.csv``     :func:`fig6_pairs`: the model pairs section 3.2 reports as significant
``fig7_detection_rates.csv``       :func:`fig7_rates`: detection rates per volume bin, text and notebook
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


def table2_full() -> pd.DataFrame:
    """The paper's Table 2 with every column: per test site and metric, mean and SD of the three methods
    (``sct_deepseg_lesion``, ``chunksnative_singlesite``, ``chunksnative_twosites``) and ``n_images``."""
    return read("table2_site_generalization")


def appendix_table(name: str) -> pd.DataFrame:
    """Table ``"A2"`` (with SCT's seg_ms_lesion, biased: part of its test data trained it) or ``"A3"`` (the test
    scans no compared model trained on), as printed.

    Raises
    ------
    InputError
        If ``name`` is neither.
    """
    files = {"A2": "tableA2_seg_ms_lesion_biased", "A3": "tableA3_unique_test_scans"}
    if name not in files:
        raise InputError(f"appendix table must be A2 or A3, got {name!r}")
    return read(files[name])


def fig6_pairs() -> pd.DataFrame:
    """The pairs of models section 3.2 reports as significantly different (Fig 6): ``metric`` (Dice or
    F1ScoreL), ``model_a``, ``model_b`` (``"<dataset> <configuration>"``), ``stars``."""
    return read("fig6_significant_pairs")


def fig7_rates() -> pd.DataFrame:
    """Detection rates per lesion-volume bin (fractions): ``paper_text`` (sections 3.3 and 4, about 60 % at
    10-50 mm^3, about 90 % above 50 mm^3; NaN where the text says nothing) and ``authors_notebook`` (the
    authors' public notebook run), indexed by ``volume_bin``."""
    return read("fig7_detection_rates").set_index("volume_bin")

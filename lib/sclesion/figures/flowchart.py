"""The cohort's flowchart (paper Fig 1B): each site's patients and images flowing into training and testing."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sclesion.data.split import SPLIT_ORDER, site_order
from sclesion.figures.distributions import SPLIT_COLOURS
from sclesion.figures.slices import TEXT_WIDTH_IN


def plot_flowchart(counts: pd.DataFrame, paper: pd.DataFrame | None = None) -> Figure:
    """Fig 1B-like flowchart: each site's patients (n) and images (nvol) flowing into train and test.

    Parameters
    ----------
    counts : pandas.DataFrame
        From :func:`sclesion.chapters.cohort.count_table`.
    paper : pandas.DataFrame, optional
        From :func:`sclesion.chapters.cohort.paper_counts`; printed under our numbers as "paper: n=..., nvol=...".
    """
    # left to right: train-only sites, sites on both sides, test-only sites (so that arrows do not cross)
    roles = counts.groupby("site")["split"].agg(lambda s: 0 if set(s) == {"train"} else 2 if set(s) == {"test"} else 1)
    sites = sorted(site_order(counts["site"]), key=lambda s: roles[s])
    fig, ax = plt.subplots(figsize=(min(TEXT_WIDTH_IN, 1.9 * max(len(sites), 2) + 0.8), 4.2))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    site_x = {s: (i + 0.5) / len(sites) for i, s in enumerate(sites)}
    split_x = {}
    for split, default in zip(SPLIT_ORDER, (0.3, 0.7)):
        feeding = counts.loc[counts["split"] == split, "site"]
        split_x[split] = float(np.mean([site_x[s] for s in feeding])) if len(feeding) else default
    if abs(split_x["train"] - split_x["test"]) < 0.3:
        split_x = {"train": 0.3, "test": 0.7}

    def box(x, y, title, ours, theirs, colour):
        text = f"{title}\n{ours}" + (f"\npaper: {theirs}" if theirs else "")
        ax.text(x, y, text, ha="center", va="center", fontsize=9, linespacing=1.4,
                bbox=dict(boxstyle="round,pad=0.5", facecolor=colour, edgecolor="0.3"))

    for site in sites:
        box(site_x[site], 0.8, site, _n_nvol(counts, site=site), _n_nvol(paper, site=site), "0.93")
    for split in SPLIT_ORDER:
        title = "training" if split == "train" else "testing"
        box(split_x[split], 0.15, title, _n_nvol(counts, split=split) or "n=0, nvol=0",
            _n_nvol(paper, split=split), SPLIT_COLOURS[split] + "40")
    for row in counts.itertuples(index=False):
        if row.split not in split_x:
            continue
        start, end = (site_x[row.site], 0.68), (split_x[row.split], 0.28)
        ax.annotate("", xy=end, xytext=start,
                    arrowprops=dict(arrowstyle="-|>", color=SPLIT_COLOURS[row.split], lw=1.4))
        mid = (0.6 * start[0] + 0.4 * end[0], 0.52)
        ax.text(*mid, f"n={row.subjects}\nnvol={row.images}", fontsize=8, ha="center", va="center",
                color=SPLIT_COLOURS[row.split], bbox=dict(facecolor="white", edgecolor="none", pad=1))
    ax.set_title("Patients (n) and images (nvol) per site and split", fontsize=10)
    fig.tight_layout()
    return fig


def _n_nvol(table: pd.DataFrame | None, site: str | None = None, split: str | None = None) -> str | None:
    """``"n=<subjects>, nvol=<images>"`` summed over the rows of a count table matching site and split."""
    if table is None:
        return None
    rows = table[(table["site"] == site if site else True) & (table["split"] == split if split else True)]
    return f"n={rows['subjects'].sum()}, nvol={rows['images'].sum()}" if len(rows) else None

"""The spinal cord chapter (notebook 05, paper 2.5.1, 3.1, Fig 5): the study's models against other cord methods.

=====================  ==============================================================================
function               what it gives
=====================  ==============================================================================
test_chunks            the TUM-like test chunk images (and the chunks of each test session)
comparison_test_sets   the comparison methods run on the test chunks: SCT's tools when installed, else the
                       classical stand-in; plus the cervical-only model of the grid (a stand-in)
unstitched_test_set    the stitched native 3D model's whole-spine predictions resampled onto every chunk
score                  every method's test set scored into the results store (cord only, per chunk)
cord_scores            cord Dice and RVE per method and chunk, from the store
chunk_statistics       per chunk: Kruskal-Wallis over the methods, Dunn/Holm over every pair
show_figure            Fig 5: rainclouds of Dice and RVE per chunk, hue = method, significance from the p-values
verdict                what the paper found and whether these data agree, as text
=====================  ==============================================================================

How the authors scored it (book/methods.md): per chunk (1 cervical, 2 thoracic, 3 lumbar), native space, no
stacking; cord = region label > 0 for the study's models, the methods' own binary outputs otherwise; the nnU-Net
models with fold 0. The stitched model predicts whole-spine images: its prediction is resampled (nearest) onto
each chunk's grid and scored per chunk ("unstitching").
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from sclesion.baselines import cord_standin, sct
from sclesion.data.bids import discover
from sclesion.data.split import attach_split
from sclesion.evaluation import store
from sclesion.evaluation.stats import dunn_holm, kruskal_wallis
from sclesion.preprocessing.stitching.bids import stitched_name
from sclesion.preprocessing.stitching.unstitch import unstitch_files

#: The study's models of Fig 5: the 2D model on chunks, and the 3D model on stitched images scored per chunk.
OURS: list[tuple[str, str]] = [("chunks_native", "2d"), ("stitched_native", "3d_fullres")]
#: The grid's model trained on cervical chunks only, a stand-in for tools trained mostly on cervical data.
CERVICAL_MODEL: tuple[str, str] = ("chunks_cervical", "2d")
#: Display names of the study's models and of the demo's stand-ins.
NAMES: dict[str, str] = {
    "chunks_native 2d": "ChunksNative 2D",
    "stitched_native 3d_fullres": "StitchedNative 3D",
    "chunks_cervical 2d": "2D, cervical chunks only (stand-in)",
    "cord_standin": "classical cord segmentation (stand-in)",
}
#: SCT's cord methods in the paper's plot order (keys of :data:`sclesion.baselines.sct.METHODS`).
SCT_CORD_METHODS: tuple[str, ...] = tuple(k for k, m in sct.METHODS.items() if m.label == "cord")
#: Chunk names.
CHUNKS: dict[int, str] = {1: "cervical", 2: "thoracic", 3: "lumbar"}


def test_chunks(bids_root: str | Path, split: pd.DataFrame, site: str = "TUM") -> pd.DataFrame:
    """The test chunk images of one site: columns of :func:`sclesion.data.bids.discover` plus ``split``."""
    images = attach_split(discover(bids_root, require_labels=True), split)
    chosen = images[(images["split"] == "test") & (images["site"] == site)]
    return chosen.sort_values("image").reset_index(drop=True)


def comparison_test_sets(chunks: pd.DataFrame, bids_root: str | Path, work_dir: str | Path, use_sct: bool | None = None,
                         jobs: int = 1, progress: bool = True) -> list[store.TestSet]:
    """Run the comparison methods on the test chunks and return their test sets.

    Parameters
    ----------
    chunks : pandas.DataFrame
        :func:`test_chunks`.
    bids_root, work_dir : str or Path
        The BIDS dataset (references) and the work folder (outputs under ``comparison/cord/<method>/``).
    use_sct : bool, optional
        Run SCT's tools (they must be on PATH); default: when every one of them is on PATH. Without SCT, the
        classical cord stand-in (:mod:`sclesion.baselines.cord_standin`) runs instead.
    jobs : int
        Worker processes of the stand-in.
    progress : bool

    Returns
    -------
    list of TestSet
        One per method (kind ``sct`` or ``stand-in``), site TUM, in the paper's plot order.
    """
    images = [Path(p) for p in chunks["image"]]
    site = str(chunks["site"].iloc[0]) if len(chunks) else "TUM"
    out = Path(work_dir) / "comparison" / "cord"
    if use_sct is None:
        use_sct = sct.sct_available(SCT_CORD_METHODS)
    sets = []
    if use_sct:
        for key in SCT_CORD_METHODS:
            sct.run_method(key, images, out / key, progress=progress)
            sets.append(store.TestSet(method=sct.METHODS[key].name, kind="sct", site=site, predictions=out / key,
                                      references=Path(bids_root), n_images=len(images)))
    else:
        cord_standin.run(images, out / "cordstandin", jobs=jobs, progress=progress)
        sets.append(store.TestSet(method=NAMES["cord_standin"], kind="stand-in", site=site,
                                  predictions=out / "cordstandin", references=Path(bids_root), n_images=len(images)))
    return sets


def unstitched_test_set(index: pd.DataFrame, chunks: pd.DataFrame, bids_root: str | Path,
                        model: tuple[str, str] = OURS[1], site: str = "TUM") -> store.TestSet | None:
    """The stitched model's predictions resampled onto each test chunk (its lowest fold), as a test set.

    The whole-spine label map of each test session (``<session stem>_T2w.nii.gz`` in the model's ``labelmaps``
    folder) is resampled (nearest) onto the grid of each chunk of the session
    (:func:`sclesion.preprocessing.stitching.unstitch.unstitch_files`) into ``unstitched/`` beside it; existing
    outputs whose inputs did not change are kept.

    Returns
    -------
    TestSet or None
        Scored with ``"unstitched"``; None when the grid has no such model.
    """
    rows = index[(index["dataset"] == model[0]) & (index["configuration"] == model[1]) & (index["site"] == site)]
    if rows.empty:
        return None
    row = rows.sort_values("fold").iloc[0]
    labelmaps = Path(row["labelmaps"])
    out = labelmaps.parent / "unstitched"
    for _, session in chunks.groupby(["participant_id", "session"], sort=True):
        images = sorted(session["image"], key=str)
        unstitch_files(labelmaps / stitched_name(images[0]), images, out)
    return store.TestSet(method=f"{model[0]} {model[1]}", kind="model", site=site, predictions=out,
                         references=Path(bids_root), n_images=len(chunks), dataset=model[0], variant=str(row["variant"]),
                         configuration=model[1], fold=int(row["fold"]))


def score(test_sets: list[store.TestSet], unstitched: store.TestSet | None, work_dir: str | Path, jobs: int = 1,
          progress: bool = True) -> store.Results:
    """Score the comparison methods (cord only, per chunk) and the unstitched model into the results store."""
    parts = [(test_set, "image") for test_set in test_sets]
    if unstitched is not None:
        parts.append((unstitched, "unstitched"))
    return store.build(parts, work_dir, labels=("cord",), jobs=jobs, progress=progress)


def cord_scores(metrics: pd.DataFrame, site: str = "TUM") -> pd.DataFrame:
    """Cord Dice and RVE per method and chunk (one row per test chunk and method), from the results store.

    Methods: the comparison methods (SCT or stand-ins), the cervical-only model (a stand-in), ChunksNative 2D
    (per chunk) and StitchedNative 3D (unstitched); the nnU-Net models with their lowest fold.

    Returns
    -------
    pandas.DataFrame
        ``method`` (display name), ``kind``, ``chunk`` (int), ``chunk_name``, ``image``, ``Dice``, ``RVE`` (%).
        Methods in the paper's order: comparison methods first, the study's models last.
    """
    cord = metrics[(metrics["label"] == "cord") & (metrics["site"] == site)]
    wanted = []
    for dataset, configuration, scoring in [(*CERVICAL_MODEL, "image"), (*OURS[0], "image"), (*OURS[1], "unstitched")]:
        part = cord[(cord["dataset"] == dataset) & (cord["configuration"] == configuration)
                    & (cord["scoring"] == scoring) & (cord["kind"] == "model")]
        if len(part):
            wanted.append(part[part["fold"] == part["fold"].min()].assign(method=NAMES[f"{dataset} {configuration}"]))
    others = cord[cord["kind"].isin(["sct", "stand-in"]) & (cord["scoring"] == "image")]
    order = list(dict.fromkeys(others["method"])) + [p["method"].iloc[0] for p in wanted]
    table = pd.concat([others] + wanted, ignore_index=True) if len(others) or wanted else cord.iloc[:0]
    table = table.assign(chunk=table["chunk"].astype(int), Dice=pd.to_numeric(table["Dice"]),
                         RVE=pd.to_numeric(table["RVE"]))
    table["chunk_name"] = [f"{c} ({CHUNKS.get(c, '?')})" for c in table["chunk"]]
    table["method"] = pd.Categorical(table["method"], categories=order, ordered=True)
    table = table.sort_values(["method", "chunk", "image"], kind="stable")
    return table[["method", "kind", "chunk", "chunk_name", "image", "Dice", "RVE"]].assign(
        method=lambda t: t["method"].astype(str)).reset_index(drop=True)


def summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Median and mean cord Dice and RVE per method and chunk, with n."""
    grouped = scores.groupby(["method", "chunk"], sort=False)
    table = grouped.agg(n=("Dice", "size"), median_Dice=("Dice", "median"), mean_Dice=("Dice", "mean"),
                        median_RVE=("RVE", "median"), mean_RVE=("RVE", "mean"))
    return table


def chunk_statistics(scores: pd.DataFrame, metric: str = "Dice") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per chunk, Kruskal-Wallis over the methods, then Dunn's test (Holm) over every pair of methods.

    Returns
    -------
    kruskal : pandas.DataFrame
        One row per chunk: ``chunk``, ``statistic``, ``p``, ``stars``.
    pairs : pandas.DataFrame
        One row per chunk and pair: ``chunk``, ``group1``, ``group2`` (methods), ``p`` (Holm-adjusted), ``stars``.
    """
    tests, pairs = [], []
    for chunk, part in scores.groupby("chunk", sort=True):
        order = list(dict.fromkeys(part["method"]))
        if len(order) < 2:
            continue
        result = kruskal_wallis(part, metric, "method")
        tests.append({"chunk": int(chunk), "statistic": result["H"], "p": result["p"], "stars": result["stars"]})
        pairs.append(dunn_holm(part, metric, "method", order=order).assign(chunk=int(chunk)))
    kruskal = pd.DataFrame(tests, columns=["chunk", "statistic", "p", "stars"])
    pairs = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame(columns=["group1", "group2", "p",
                                                                                    "stars", "chunk"])
    return kruskal, pairs[["chunk", "group1", "group2", "p", "stars"]]


def show_figure(scores: pd.DataFrame, pairs: dict[str, pd.DataFrame]) -> Figure:
    """Fig 5: rainclouds of cord Dice (top) and RVE (bottom) per chunk, hue = method, significant pairs bracketed.

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`cord_scores`.
    pairs : dict
        Metric -> :func:`chunk_statistics`' pairs table.
    """
    from sclesion.figures.results import raincloud_panels

    brackets = []
    for metric, table in pairs.items():
        brackets.append(_bracket_rows(table, scores, metric))
    brackets = pd.concat(brackets, ignore_index=True) if brackets else None
    return raincloud_panels(scores, {"Dice": "Cord Dice", "RVE": "Cord relative volume error (%)"}, x="chunk_name",
                            hue="method", order=sorted(scores["chunk_name"].unique()),
                            hue_order=list(dict.fromkeys(scores["method"])), brackets=brackets,
                            xlabel="chunk (spinal region)")


def verdict(scores: pd.DataFrame, kruskal: pd.DataFrame, synthetic: bool) -> str:
    """Markdown bullets: the paper's findings of section 3.1 and whether these scores agree, with the reason."""
    if scores.empty:
        return "No cord scores in the results store: nothing to compare."
    medians = scores.groupby(["method", "chunk"])["Dice"].median().unstack("chunk")
    ours = [NAMES[f"{d} {c}"] for d, c in OURS if NAMES[f"{d} {c}"] in medians.index]
    others = [m for m in medians.index if m not in ours]
    lines = []
    if others and 3 in medians.columns and 1 in medians.columns:
        drop = {m: medians.loc[m, 1] - medians.loc[m, 3] for m in others}
        worst = max(drop, key=drop.get)
        lines.append("* **Existing methods fall off caudally.** The paper: SCT's propseg and deepseg_sc vary across "
                     "chunks and are worst on chunk 3 (thoraco-lumbar); the contrast-agnostic model narrows the gap. "
                     f"Here the largest cervical-to-lumbar drop in median Dice is {worst} "
                     f"({medians.loc[worst, 1]:.2f} -> {medians.loc[worst, 3]:.2f}).")
    if ours and others:
        beaten = all((medians.loc[o] > medians.loc[m]).all() for o in ours for m in others)
        lines.append("* **The study's models are best on every chunk.** The paper: significantly better than every "
                     f"other method on all three chunks. Here the study's models have the highest median Dice on every "
                     f"chunk: **{'yes' if beaten else 'no'}**; Kruskal-Wallis per chunk: "
                     + ", ".join(f"chunk {int(r.chunk)} p = {r.p:.2g}" for r in kruskal.itertuples()) + ".")
    if synthetic:
        lines.append("* **What the stand-ins are.** SCT cannot run here, so its tools are replaced by stand-ins, "
                     "named as such: a classical cord segmentation without training, and a 2D model of the grid "
                     "trained on cervical chunks only (the situation of tools trained mostly on cervical data). "
                     "They show the analysis, not SCT's accuracy; the paper profile runs SCT's tools through "
                     "`sclesion.baselines.sct`.")
    return "\n".join(lines)


def _bracket_rows(pairs: pd.DataFrame, scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Dunn/Holm pairs of one metric per chunk, in the raincloud's terms: ``metric``, ``chunk_name``, the pair."""
    names = dict(zip(scores["chunk"], scores["chunk_name"]))
    return pd.DataFrame({"metric": metric, "chunk_name": [names[c] for c in pairs["chunk"]],
                         "group1": pairs["group1"].to_numpy(), "group2": pairs["group2"].to_numpy(),
                         "p": pairs["p"].to_numpy(), "stars": pairs["stars"].to_numpy()})

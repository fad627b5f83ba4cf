"""The lesion segmentation chapter (notebook 06, paper 3.2, Fig 6): the eight models of the grid compared.

=====================  ==============================================================================
function               what it gives
=====================  ==============================================================================
session_scores         one row per model, fold and TUM test session: lesion Dice, F1, NSD and counts
model_summary          per model: n, medians and means, pooled lesions found, the paper's medians beside
statistics             normality, Kruskal-Wallis over the models, Dunn/Holm over every pair
wilcoxon_2d_vs_3d      per dataset variant: one-sided Wilcoxon, 2D greater than 3D, paired by session and fold
paper_pairs            the pairs the paper reports as significant beside our adjusted p-values
empty_sessions         the empty-mask rule: n and medians with and without lesion-free sessions
full_si_comparison     3d_fullres against the full S-I model on the same test images (paired Wilcoxon)
show_figure            Fig 6: rainclouds of lesion Dice and F1 per variant, 2D and 3D side by side
show_pairs             the Dunn/Holm p-values of every pair as a lower-triangular matrix, stars on significant cells
show_counts            reference against predicted lesion count per session, one panel per model
verdict                what the paper found and whether these data agree, as text
=====================  ==============================================================================

How the sessions are scored (book/methods.md, "Stacking" and "Metrics"): models trained on chunks are scored on
their chunks stacked per session (paper Algorithm 1; straightened predictions warped back to native space
first), models trained on stitched images on the stitched native masks; one point per session per fold (the
folds are not averaged). Lesion = label > 1 of the region prediction, references binarised > 0.5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sclesion.data import paper as paper_tables
from sclesion.nnunet.plans import FULL_SI
from sclesion.evaluation.stats import dunn_holm, kruskal_wallis, normality, paired_wilcoxon, stars

#: The paper's eight models: (dataset, configuration), in the order of Fig 6.
MODELS: list[tuple[str, str]] = [
    (dataset, configuration)
    for dataset in ("chunks_native", "chunks_straightened", "stitched_native", "stitched_straightened")
    for configuration in ("2d", "3d_fullres")
]
#: Metrics of the chapter (lesion label): per session, and the counts behind the scatter.
METRICS: tuple[str, ...] = ("Dice", "F1ScoreL", "NSD")
#: Columns of :func:`session_scores`.
SESSION_COLUMNS: list[str] = [
    "model", "dataset", "variant", "configuration", "kernel", "fold", "session", "Dice", "F1ScoreL", "NSD", "PPVL",
    "SensL", "RefLesionsCount", "PredLesionsCount", "lesion_free",
]
#: The paper's medians of lesion Dice (section 3.2), by model.
PAPER_MEDIAN_KEYS: dict[str, str] = {
    "chunks_native 2d": "median_dice_2d_chunks_native",
    "chunks_straightened 2d": "median_dice_2d_chunks_straightened",
    "stitched_native 3d_fullres": "median_dice_3d_stitched_native",
    "stitched_straightened 3d_fullres": "median_dice_3d_stitched_straightened",
}


def model_name(dataset: str, configuration: str) -> str:
    """The model's name in the book's tables: ``"<dataset> <configuration>"``, e.g. ``"chunks_native 2d"``."""
    return f"{dataset} {configuration}"


def session_scores(metrics: pd.DataFrame, site: str = "TUM") -> pd.DataFrame:
    """The lesion scores of the eight models on the sessions of one test site, one row per session and fold.

    Parameters
    ----------
    metrics : pandas.DataFrame
        The results store's metrics table (:func:`sclesion.evaluation.store.read`).
    site : str, default "TUM"
        The test site (the paper: the TUM test set).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SESSION_COLUMNS`: ``model`` (:func:`model_name`), ``kernel`` ("2D"/"3D"), ``session``
        (e.g. ``sub-tum003_ses-20200101_acq-ax``), the lesion metrics, the lesion counts and ``lesion_free``
        (the reference session has no lesion). Models of the eight absent from the store are absent here;
        rows keep the order of :data:`MODELS`.
    """
    lesion = metrics[(metrics["label"] == "lesion") & (metrics["site"] == site) & (metrics["kind"] == "model")]
    chunks = lesion["variant"].str.startswith("chunks") & (lesion["scoring"] == "session")
    stitched = lesion["variant"].str.startswith("stitched") & (lesion["scoring"] == "image")
    rows = lesion[chunks | stitched]
    rows = rows[[(d, c) in MODELS for d, c in zip(rows["dataset"], rows["configuration"])]]
    table = pd.DataFrame({
        "model": [model_name(d, c) for d, c in zip(rows["dataset"], rows["configuration"])],
        "dataset": rows["dataset"].to_numpy(), "variant": rows["variant"].to_numpy(),
        "configuration": rows["configuration"].to_numpy(),
        "kernel": np.where(rows["configuration"] == "2d", "2D", "3D"),
        "fold": rows["fold"].to_numpy(), "session": rows["image"].to_numpy(),
    })
    for column in ("Dice", "F1ScoreL", "NSD", "PPVL", "SensL"):
        table[column] = pd.to_numeric(rows[column], errors="coerce").to_numpy()
    for column in ("RefLesionsCount", "PredLesionsCount"):
        table[column] = pd.to_numeric(rows[column]).astype(int).to_numpy()
    table["lesion_free"] = table["RefLesionsCount"] == 0
    order = {model_name(*m): i for i, m in enumerate(MODELS)}
    table = table.sort_values(["model", "fold", "session"], key=lambda s: s.map(order) if s.name == "model" else s,
                              kind="stable")
    return table[SESSION_COLUMNS].reset_index(drop=True)


def models_present(scores: pd.DataFrame) -> list[str]:
    """The models of :data:`MODELS` that have scores, in the order of Fig 6."""
    present = set(scores["model"])
    return [model_name(*m) for m in MODELS if model_name(*m) in present]


def model_summary(scores: pd.DataFrame, pooled: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per model: sessions x folds, median and mean of each metric, and the paper's median lesion Dice.

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`session_scores`.
    pooled : pandas.DataFrame, optional
        :func:`sclesion.chapters.training_configurations.pooled_detection` of the same test set with a ``model``
        column; adds ``ref_lesions``, ``lesions_found`` and ``found_fraction`` (lesions with >= 10 % of their
        voxels predicted, pooled over the chunks or stitched images of the test set).

    Returns
    -------
    pandas.DataFrame
        Indexed by model: ``n``, ``median_Dice``, ``mean_Dice``, ..., ``paper_median_Dice`` (NaN where the
        paper gives none), and the pooled columns when given.
    """
    numbers = paper_tables.numbers()
    rows = []
    for model in models_present(scores):
        part = scores[scores["model"] == model]
        row = {"model": model, "n": len(part)}
        for metric in METRICS:
            values = part[metric].dropna()
            row[f"median_{metric}"] = float(values.median()) if len(values) else np.nan
            row[f"mean_{metric}"] = float(values.mean()) if len(values) else np.nan
        key = PAPER_MEDIAN_KEYS.get(model)
        row["paper_median_Dice"] = float(numbers[key]) if key else np.nan
        rows.append(row)
    table = pd.DataFrame(rows).set_index("model")
    if pooled is not None and len(pooled):
        table = table.join(pooled.set_index("model")[["ref_lesions", "lesions_found", "found_fraction"]])
    return table


def statistics(scores: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """D'Agostino-Pearson per model, Kruskal-Wallis over the models, Dunn/Holm over every pair (28 for eight).

    Returns
    -------
    normal : pandas.DataFrame
        :func:`sclesion.evaluation.stats.normality` per model.
    kruskal : pandas.Series
        :func:`sclesion.evaluation.stats.kruskal_wallis`.
    pairs : pandas.DataFrame
        :func:`sclesion.evaluation.stats.dunn_holm`: ``group1``, ``group2``, ``p`` (Holm-adjusted), ``stars``.
    """
    data = scores.dropna(subset=[metric])
    order = [m for m in models_present(scores) if m in set(data["model"])]
    return (normality(data, metric, "model"), kruskal_wallis(data, metric, "model"),
            dunn_holm(data, metric, "model", order=order))


def wilcoxon_2d_vs_3d(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per dataset variant, the one-sided Wilcoxon signed-rank test "2D greater than 3D".

    Pairs are the same session and fold; scipy drops zero differences (e.g. both models scoring 1 on a
    lesion-free session), as the authors' analysis did.

    Returns
    -------
    pandas.DataFrame
        :func:`sclesion.evaluation.stats.paired_wilcoxon` per ``variant``.
    """
    return paired_wilcoxon(scores.dropna(subset=[metric]), metric, "kernel", "2D", "3D", ("session", "fold"),
                           by="variant", alternative="greater")


def paper_pairs(pairs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The pairs the paper reports as significant (:func:`sclesion.data.paper.fig6_pairs`) beside ours.

    Parameters
    ----------
    pairs : dict of str to pandas.DataFrame
        Metric (``Dice``, ``F1ScoreL``) -> :func:`statistics`' Dunn/Holm table.

    Returns
    -------
    pandas.DataFrame
        ``metric``, ``model_a``, ``model_b``, ``paper`` (stars), ``p`` (ours, Holm-adjusted; NaN where a model is
        missing), ``ours`` (stars), ``agrees`` (ours significant too).
    """
    rows = []
    for pair in paper_tables.fig6_pairs().itertuples(index=False):
        table = pairs.get(pair.metric)
        p = np.nan
        if table is not None and len(table):
            match = table[((table["group1"] == pair.model_a) & (table["group2"] == pair.model_b))
                          | ((table["group1"] == pair.model_b) & (table["group2"] == pair.model_a))]
            p = float(match["p"].iloc[0]) if len(match) else np.nan
        rows.append({"metric": pair.metric, "model_a": pair.model_a, "model_b": pair.model_b, "paper": pair.stars,
                     "p": p, "ours": stars(p), "agrees": bool(p < 0.05) if np.isfinite(p) else np.nan})
    return pd.DataFrame(rows, columns=["metric", "model_a", "model_b", "paper", "p", "ours", "agrees"])


def empty_sessions(scores: pd.DataFrame) -> pd.DataFrame:
    """The empty-mask rule at work: each model's n and medians with and without the lesion-free sessions.

    A lesion-free reference session whose prediction is empty scores Dice 1 and F1 1 (both masks empty) and
    enters the means and medians; NSD is undefined there (NaN) and left out.

    Returns
    -------
    pandas.DataFrame
        Indexed by model: ``n_all``, ``n_lesion_free``, ``lesion_free_predicted_empty``, then ``median_<metric>_all``
        and ``median_<metric>_with_lesions`` for Dice and F1ScoreL.
    """
    rows = []
    for model in models_present(scores):
        part = scores[scores["model"] == model]
        free = part[part["lesion_free"]]
        row = {"model": model, "n_all": len(part), "n_lesion_free": len(free),
               "lesion_free_predicted_empty": int((free["PredLesionsCount"] == 0).sum())}
        for metric in ("Dice", "F1ScoreL"):
            row[f"median_{metric}_all"] = float(part[metric].median())
            row[f"median_{metric}_with_lesions"] = float(part.loc[~part["lesion_free"], metric].median())
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def with_lesions_only(scores: pd.DataFrame) -> pd.DataFrame:
    """The sessions whose reference holds at least one lesion (the figure's second version)."""
    return scores[~scores["lesion_free"]].reset_index(drop=True)


def full_si_comparison(
    metrics: pd.DataFrame, pairs: tuple[tuple[str, str], ...] = (("cord", "Dice"), ("lesion", "Dice"),
                                                                  ("lesion", "F1ScoreL")),
) -> pd.DataFrame:
    """The full S-I model against the 3d_fullres model of the same dataset, on the same test images.

    Two-sided Wilcoxon signed-rank test (:func:`sclesion.evaluation.stats.paired_wilcoxon`) on the values of each
    test image and fold predicted by both models (the paper found no significant difference).

    Parameters
    ----------
    metrics : pandas.DataFrame
        :func:`score_grid`'s metrics table.
    pairs : tuple of (label, metric)
        What to compare.

    Returns
    -------
    pandas.DataFrame
        One row per dataset holding both models and per (label, metric): ``dataset``, ``label``, ``metric``,
        ``n_pairs``, ``median_3d_fullres``, ``median_full_si``, ``p``, ``stars``, ``note``; empty when no
        dataset has both models.
    """
    columns = ["dataset", "label", "metric", "n_pairs", "median_3d_fullres", "median_full_si", "p", "stars", "note"]
    both = metrics[metrics["configuration"].isin(["3d_fullres", FULL_SI])]
    models = both.groupby("dataset")["configuration"].nunique()
    both = both[both["dataset"].isin(models[models == 2].index)]
    parts = []
    for label, metric in pairs:
        part = both[both["label"] == label]
        if part.empty:
            continue
        test = paired_wilcoxon(part, metric, "configuration", "3d_fullres", FULL_SI, pair_on=("site", "fold", "image"),
                               by="dataset", alternative="two-sided")
        parts.append(test.rename(columns={"group": "dataset", "median_first": "median_3d_fullres",
                                          "median_second": "median_full_si"}).assign(label=label, metric=metric))
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def show_figure(scores: pd.DataFrame, pairs: dict[str, pd.DataFrame]) -> Figure:
    """Fig 6: rainclouds of lesion Dice (top) and lesion-wise F1 (bottom) per dataset variant, 2D and 3D side by side.

    Brackets mark the 2D-3D pair of a variant where Dunn's test (Holm-adjusted over all 28 pairs) is significant;
    every pair is in :func:`show_pairs`.

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`session_scores`.
    pairs : dict
        Metric -> :func:`statistics`' Dunn/Holm table.
    """
    from sclesion.figures.results import raincloud_panels

    rows = []
    for metric, table in pairs.items():
        for pair in table.itertuples(index=False):
            first, second = pair.group1.rsplit(" ", 1), pair.group2.rsplit(" ", 1)
            if first[0] == second[0]:  # the same variant: 2D against 3D
                rows.append({"metric": metric, "dataset": first[0], "group1": _kernel(first[1]),
                             "group2": _kernel(second[1]), "p": pair.p, "stars": pair.stars})
    brackets = pd.DataFrame(rows, columns=["metric", "dataset", "group1", "group2", "p", "stars"])
    return raincloud_panels(scores, {"Dice": "Lesion Dice", "F1ScoreL": "Lesion-wise F1"}, x="dataset", hue="kernel",
                            order=list(dict.fromkeys(scores["dataset"])), hue_order=["2D", "3D"],
                            brackets=brackets if len(brackets) else None, xlabel="Dataset variant")


def _kernel(configuration: str) -> str:
    return "2D" if configuration == "2d" else "3D"


def show_counts(scores: pd.DataFrame) -> Figure:
    """Reference against predicted lesion count, one point per session and fold, one panel per model."""
    from sclesion.figures.results import lesion_count_scatter

    return lesion_count_scatter(scores, model="model", reference="RefLesionsCount", predicted="PredLesionsCount",
                                order=models_present(scores), hue="kernel")


def show_pairs(pairs: pd.DataFrame, metric: str) -> Figure:
    """The Dunn/Holm adjusted p-values of every pair of models as a lower-triangular matrix, stars on significant cells."""
    from sclesion.figures.results import pvalue_matrix

    return pvalue_matrix(pairs, title=f"{metric}: Dunn's test, Holm-adjusted p")


def verdict(scores: pd.DataFrame, summary: pd.DataFrame, tests: dict, synthetic: bool) -> str:
    """Markdown bullets: the paper's findings of section 3.2 and whether these scores agree, with the reason.

    Parameters
    ----------
    scores, summary : pandas.DataFrame
        :func:`session_scores` and :func:`model_summary`.
    tests : dict
        Metric -> :func:`statistics`' (normality, Kruskal-Wallis, Dunn/Holm) tuple.
    synthetic : bool
        The data are the synthetic cohort (the reasons then speak of it).
    """
    if summary.empty:
        return "No model of the eight has scores in the results store: nothing to compare."
    medians = summary["median_Dice"]
    best = medians.idxmax()
    lines = [f"* **Best model.** The paper's best lesion Dice came from the 2D chunks native model (median 0.72, tied "
             f"with 3D stitched native). Here the highest median is **{best}** ({medians[best]:.2f})"
             + (f"; 2D chunks native: {medians['chunks_native 2d']:.2f}." if "chunks_native 2d" in medians else ".")]
    wins = []
    for metric in ("Dice", "F1ScoreL"):
        table = wilcoxon_2d_vs_3d(scores, metric)
        wins.append(f"{metric}: 2D significantly greater in {int((table['p'] < 0.05).sum())} of "
                    f"{int(table['p'].notna().sum())} variants")
    lines.append("* **2D against 3D.** The paper: 2D scored higher than 3D in every variant but stitched native. "
                 f"Here (one-sided Wilcoxon): {'; '.join(wins)}.")
    native = [m for m in ("chunks_native 2d", "chunks_straightened 2d") if m in medians]
    if len(native) == 2:
        lines.append(f"* **Straightening.** The paper: straightened slightly worse than native (2D: 0.72 vs 0.69; 3D "
                     f"stitched: 0.72 vs 0.53). Here, 2D chunks: {medians[native[0]]:.2f} native vs "
                     f"{medians[native[1]]:.2f} straightened.")
    kruskal = tests.get("Dice", (None, {"p": np.nan}, None))[1]
    lines.append(f"* **Differences between the models** (Kruskal-Wallis on lesion Dice): p = {kruskal['p']:.2g}.")
    if synthetic:
        lines.append("* **Why the demo can differ.** The synthetic lesions are bright ellipsoids on tiny images and "
                     "every model trains a few minutes on two CPU cores; the paper's differences come from 1,000 "
                     "epochs on clinical scans, where partial volume across 5 mm slices, rater variability and "
                     "the thoraco-lumbar appearance make the task hard. The demo shows that the analysis runs and "
                     "reads its own numbers; it cannot confirm or refute the paper's ranking.")
    return "\n".join(lines)

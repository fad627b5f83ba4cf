"""Evaluation (paper 2.5): lesions, metrics, detection, stacking, statistics.

Modules
-------
lesions     what a lesion is: connected components (6-connectivity) and their volumes in mm^3
metrics     Dice, RVE, NSD, lesion-wise PPV/sensitivity/F1 and counts (MetricsReloaded's definitions)
detection   lesion detection by size (ANIMA's rule)
detection_curve  detection probability against lesion volume: a fitted logistic curve and its 50 % point
stacking    chunks stacked per session (Algorithm 1)
stats       normality, Kruskal-Wallis, Dunn/Holm, Wilcoxon, Wilson intervals
evaluate    predictions paired with references and scored, per image or stacked session
store       the results store: every test set scored once (per-image metrics, per-lesion detection)
morphometrics  per-lesion volume, length, diameter, damage ratio, centroid (sct_analyze_lesion's definitions)
"""

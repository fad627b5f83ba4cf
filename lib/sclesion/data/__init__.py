"""The study's data: BIDS datasets, the patient-wise split, the synthetic cohort and phantoms.

Modules
-------
bids        BIDS discovery, entities, label and sidecar paths, dataset checks
split       patient-wise train/test split and exclusions; the study's order of sites and splits
acquisition scanner (JSON sidecars) and geometry (NIfTI headers) of every image
paper       the one reader of the paper's numbers and tables (data_manifest/paper/)
phantoms    a whole-spine cord phantom with known centerline and lesions
synthetic   the deterministic synthetic multi-site whole-spine cohort (BIDS + ground truth)
"""

"""sclesion: the thin library behind the whole-spine spinal cord and MS lesion segmentation book.

Modules
-------
synthetic       deterministic synthetic multi-site whole-spine cohort (BIDS + ground truth)
io, dataset     reading, validating and pairing NIfTI images and masks in a BIDS tree
split           patient-wise train/test split and exclusions
stitching       chunks -> one whole-spine image
straightening   cord straightening, warping fields and their inverse
variants        the four dataset variants (chunks/stitched x native/straightened)
metrics, stacking, detection, stats, plots, evaluate
                the evaluation of the study
nnunet          region-based nnU-Net v2 datasets, plans, training grid and prediction
book            executing the parameterized notebooks and building the book
"""

__version__ = "0.1.0"

"""sclesion: the library behind the whole-spine spinal cord and MS lesion segmentation book.

Its packages follow the study's methods, stage by stage:

Packages
--------
core            conventions, errors, atomic writes, NIfTI reading/validation/reorientation, profiles
data            BIDS discovery, the patient-wise split, the synthetic cohort, phantoms
preprocessing   stitching, straightening, the four dataset variants
nnunet          region-based nnU-Net v2 datasets, plans, training grid and prediction
evaluation      metrics, lesion detection, stacking, statistics, scoring predictions, lesion morphometrics
baselines       comparison methods: the Spinal Cord Toolbox adapter and the demo's stand-ins
segment         the model as a tool for users' own scans: post-processing, batches, QC page
figures         slice views and distributions shared by the chapters
chapters        one module per notebook, with the notebook's name
cli             the ``sclesion`` command, one module per subcommand
book            executing the parameterized notebooks and building the book
"""

__version__ = "0.1.0"

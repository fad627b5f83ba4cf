"""Region-based nnU-Net v2 experiments of the study (paper 2.3, 2.4, Table A1).

Modules, in the order the pipeline uses them
--------------------------------------------
settings     the nnU-Net settings of a profile (grid, schedule, network, devices, SLURM)
datasets     the six nnU-Net datasets (901-904 variants, 910 two sites, 911 cervical chunks only) and the folders under ``work_dir``
convert      a dataset variant -> nnU-Net raw format with region labels (cord, lesion), RPI, case table
environment  nnU-Net's environment variables from ``work_dir``; running an nnU-Net step in a fresh process
plans        plans tables (Table A1 layout), the full S-I patch configuration, the small CPU network
preprocess   fingerprint, plans and preprocessing, sized for small machines
trainer      the trainer classes: the paper's DiceCE noSmooth loss, a schedule from the profile
jobs         one training job (dataset x configuration x fold): subject-level folds, resume, logs
runner       the grid of jobs from a profile, run locally (progress bar, resume) or as a SLURM job array
predict      prediction in the input's own grid: RPI in, back-warping of straightened outputs, label maps
curves       training curves read back from nnU-Net's checkpoints

nnU-Net is imported lazily, inside the functions that need it, so that ``import sclesion.nnunet.*`` stays
fast and nnU-Net's path variables can be set before nnU-Net reads them (it reads them once, at import).
"""

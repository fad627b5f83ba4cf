"""The ``sclesion`` command line: one module per subcommand (see ``sclesion.cli.main.COMMANDS``).

Each subcommand module defines ``add_arguments(parser)``, ``run(args) -> int`` and its help, ``DESCRIPTION``
(what it reads and writes) and ``EPILOG`` (an example and the rerun rule).

Modules
-------
main             the entry point: dispatches to the subcommand, turns bad input into one line
arguments        option types shared by every subcommand (--jobs, --seed, --fov-mm ...), checked by argparse
profile_options  the profile options shared by the nnU-Net subcommands
synth            the synthetic cohort
check            validate a BIDS dataset
split            the patient-wise split
stitch           chunks -> one whole-spine image or mask
straighten       straighten the cord; write both warping fields
apply_warp       apply a warping field
variants         the dataset variants
convert          nnU-Net raw datasets with region labels
plan             nnU-Net fingerprint, plans and preprocessing
train            the training grid, locally or on SLURM
predict          prediction in the input's own grid
segment          users' own scans: masks, lesion tables, QC page
lesions          per-lesion morphometrics of a lesion mask and a cord mask
evaluate         the study's metrics
book             execute the notebooks and build the book
"""

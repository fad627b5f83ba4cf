"""One module per notebook, with the notebook's name: the tables and figures of each chapter.

Modules
-------
cohort                      01_cohort.ipynb
stitching                   02_stitching.ipynb
straightening               03_straightening.ipynb
training_configurations     04_training_configurations.ipynb
segmenting_your_own_scans   09_segmenting_your_own_scans.ipynb
"""

"""One module per notebook, with the notebook's name: the tables and figures of each chapter.

Modules
-------
cohort                      01_cohort.ipynb
stitching                   02_stitching.ipynb
straightening               03_straightening.ipynb
training_configurations     04_training_configurations.ipynb
spinal_cord_comparison      05_spinal_cord_comparison.ipynb
lesion_segmentation         06_lesion_segmentation.ipynb
lesion_detection            07_lesion_detection.ipynb
site_generalization         08_site_generalization.ipynb
segmenting_your_own_scans   09_segmenting_your_own_scans.ipynb
"""

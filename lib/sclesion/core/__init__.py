"""Conventions and input/output shared by every stage of the study.

Modules
-------
conventions RPI axes, region thresholds, lesion connectivity, the straight field of view
errors      InputError: bad input, reported in one line naming the file or option
atomic      writes under a temporary name, then rename (no half-written output)
nifti       NIfTI reading, validation and reorientation (RPI), voxel sizes
paths       where the repository's data manifest and profiles live
yamlfile    the one reader of the project's YAML files
profile     Profile: the run settings of profiles/<name>.yml (demo, smoke, paper), typed and checked
"""

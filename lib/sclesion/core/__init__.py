"""Conventions and input/output shared by every stage of the study.

Modules
-------
conventions RPI axes, region thresholds, lesion connectivity, the straight field of view
errors      InputError: bad input, reported in one line naming the file or option
atomic      writes under a temporary name, then rename; never over an input; stale temporaries cleaned
provenance  what made each output (input checksums, parameters): reruns skip only up-to-date work
workers     process pools whose workers die with their parent
names       file names: NIfTI stem and extension (.nii and .nii.gz alike), image or mask by name
nifti       the validating reader (readable, 3D, finite, binary masks), reorientation (RPI), voxel sizes
paths       where the repository's data manifest and profiles live
yamlfile    the one reader of the project's YAML files
profile     Profile: the run settings of profiles/<name>.yml (demo, smoke, paper), typed and checked
"""

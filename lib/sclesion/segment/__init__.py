"""The study's model as a tool for users' own scans (``sclesion segment``; book/methods.md, "The model as a tool").

Modules
-------
postprocess   optional clean-ups, each on its own label: largest cord component, lesions outside the cord,
              lesions below a volume
run           images, folders or BIDS datasets segmented in batches: masks on the input grid, sidecars with
              checksums (reruns keep finished outputs), lesion tables, a run summary
qc            the run's self-contained QC page: axial mosaic, sagittal lesion MIP, lesion table, viewer

Inference itself is :mod:`sclesion.nnunet.predict`'s (the same path as ``sclesion predict``); the lesion
measures are :mod:`sclesion.evaluation.morphometrics`'s.
"""

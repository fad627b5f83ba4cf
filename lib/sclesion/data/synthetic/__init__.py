"""The embedded synthetic multi-site whole-spine cohort (SYNTHETIC DATA: no patient data).

A deterministic generator of axial T2w whole-spine MRI chunks with cord and MS lesion masks, laid out as BIDS
like the study's data (book/methods.md, "Data layout and labels"), for four sites imitating the paper's
Table 1. Each session also gets its ground truth: the continuous whole-spine image and masks in one reference
space, the true centerline, the lesion table and the model's parameters, and :func:`render_truth` re-renders
that truth on any grid.

Modules: ``spec`` (cohort and site YAMLs), ``anatomy`` (cord, canal, column), ``lesions`` (lesion model),
``model`` (a session in scanner space; tissue at any point), ``geometry`` (chunk and reference grids),
``render`` (partial volume, bias, noise), ``subject`` (plan and write one subject), ``generate`` (the whole
cohort, cache, checksums), ``truth`` (reading and re-rendering the truth), ``layout`` (file names), ``portable``
(transcendental functions that give the same bits on any CPU).
"""

from sclesion.data.synthetic.generate import (
    CohortResult,
    checksum_manifest,
    compare_checksums,
    file_checksums,
    generate_cohort,
)
from sclesion.data.synthetic.spec import GENERATOR_VERSION, load_spec, spec_hash
from sclesion.data.synthetic.truth import (
    TRUTH_FINE_MM,
    load_session_model,
    read_centerline,
    read_lesions,
    render_truth,
)

__all__ = [
    "GENERATOR_VERSION",
    "TRUTH_FINE_MM",
    "CohortResult",
    "checksum_manifest",
    "compare_checksums",
    "file_checksums",
    "generate_cohort",
    "load_session_model",
    "load_spec",
    "read_centerline",
    "read_lesions",
    "render_truth",
    "spec_hash",
]

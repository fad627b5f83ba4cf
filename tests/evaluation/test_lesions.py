"""sclesion.evaluation.lesions: one definition of a lesion, and every chapter counting with it."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sclesion.chapters import stitching as stitching_chapter
from sclesion.chapters import straightening as straightening_chapter
from sclesion.core.conventions import LESION_CONNECTIVITY
from sclesion.core.errors import InputError
from sclesion.data.phantoms import render_phantom
from sclesion.evaluation.detection import detect_lesions
from sclesion.evaluation.lesions import count_lesions, label_lesions, lesion_volumes, lesion_volumes_mm3
from sclesion.evaluation.metrics import compute_metrics
from sclesion.preprocessing.stitching.validation import lesion_counts
from sclesion.preprocessing.straightening.qc import lesion_volume_changes
from sclesion.preprocessing.straightening.straighten import straighten

SPACING = (1.0, 1.0, 2.0)  # mm: 2 mm^3 voxels


def test_lesions_are_face_connected_components_and_other_connectivities_are_explicit():
    mask = np.zeros((5, 5, 5), np.uint8)
    mask[1, 1, 1] = mask[2, 2, 2] = 1  # touching at a corner only
    mask[0, 4, 4] = mask[1, 4, 4] = 1  # touching through a face
    assert LESION_CONNECTIVITY == 6
    assert count_lesions(mask) == 3
    assert count_lesions(mask, connectivity=18) == 3
    assert count_lesions(mask, connectivity=26) == 2
    labels, n = label_lesions(mask)
    assert n == 3 and labels.max() == 3 and labels[0, 4, 4] == labels[1, 4, 4]
    np.testing.assert_allclose(lesion_volumes_mm3(mask, np.diag([0.5, 0.5, 3.0, 1.0])),
                               [1.5, 0.75, 0.75])  # raster order
    with pytest.raises(InputError, match="connectivity 7"):
        count_lesions(mask, connectivity=7)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A straight cord phantom with two 2-voxel lesions that touch only at a corner: 2 lesions by
    6-connectivity, 1 by 26-connectivity."""
    curve = np.column_stack([np.full(2800, 2.3), np.full(2800, -1.7), np.arange(-70.0, 70.0, 0.05)])
    phantom = render_phantom((40, 40, 30), SPACING, curve, radii_mm=(4.0, 3.0), noise=0.0)
    cord = np.asarray(phantom.cord.dataobj) > 0
    i, j = (int(round(c)) for c in np.argwhere(cord[:, :, 15])[:, :2].mean(axis=0))
    lesion = np.zeros(cord.shape, np.uint8)
    lesion[i, j, 12:14] = 1
    lesion[i + 1, j + 1, 14:16] = 1
    assert count_lesions(lesion) == 2 and count_lesions(lesion, connectivity=26) == 1
    folder = tmp_path_factory.mktemp("lesions")
    paths = {}
    for kind, img in (("image", phantom.image), ("cord", phantom.cord),
                      ("lesion", nib.Nifti1Image(lesion, phantom.image.affine))):
        paths[kind] = folder / f"sub-a_ses-1_T2w_{kind}.nii.gz"
        nib.save(img, paths[kind])
    return {"phantom": phantom, "lesion": lesion, "paths": paths}


def test_every_chapter_counts_the_same_lesions_with_the_same_volumes(image):
    lesion, paths = image["lesion"], image["paths"]
    affine = image["phantom"].image.affine
    expected = lesion_volumes_mm3(lesion, affine)
    np.testing.assert_allclose(expected, [4.0, 4.0])

    # cohort chapter: the lesion table of a dataset
    dataset = pd.DataFrame({"participant_id": ["sub-a"], "session": ["ses-1"], "chunk": [1], "site": ["TUM"],
                            "split": ["test"], "image": [str(paths["image"])], "cord": [str(paths["cord"])],
                            "lesion": [str(paths["lesion"])]})
    table = lesion_volumes(dataset, progress=False)
    np.testing.assert_allclose(table["volume_mm3"], expected)

    # stitching chapter: counts before and after stitching, and the session picked for the figures
    assert lesion_counts([paths["lesion"]], paths["lesion"]) == {"chunked": 2, "stitched": 2}
    stitched = dataset.drop(columns="chunk")
    assert stitching_chapter.load_session(dataset, stitched).n_lesions == 2

    # straightening chapter: the QC's lesion table and the session picked for the figures
    st = straighten(image["phantom"].image, image["phantom"].cord, fov_mm=10.0)
    changes = lesion_volume_changes(st, nib.load(paths["lesion"]))
    assert len(changes) == 2
    np.testing.assert_allclose(changes["volume_native_mm3"], expected)
    assert straightening_chapter.load_session(dataset, stitched).n_lesions == 2

    # evaluation: metrics and detection (training chapter)
    metrics = compute_metrics(lesion, lesion)
    assert metrics["RefLesionsCount"] == metrics["PredLesionsCount"] == 2
    detected = detect_lesions(lesion, lesion, SPACING)
    assert len(detected) == 2 and detected["detected"].all()
    np.testing.assert_allclose(detected["volume_mm3"], expected)

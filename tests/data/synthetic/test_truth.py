"""The smoke synthetic cohort: layout, geometry, masks and ground truth (SYNTHETIC DATA)."""

from __future__ import annotations

import json
import re

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sclesion.data.synthetic import load_session_model, read_centerline, read_lesions, render_truth
from sclesion.data.synthetic import layout
from sclesion.data.synthetic.truth import TRUTH_FINE_MM


def _sessions(root, subject):
    return sorted(p.name for p in (root / subject).glob("ses-*"))


def _chunks(root, subject, session):
    return sorted((root / subject / session / "anat").glob("*_chunk-*_T2w.nii.gz"))


def _labels(image):
    root = image.parents[3]
    rel = image.parent.relative_to(root)
    stem = image.name.replace(".nii.gz", "")
    folder = root / "derivatives" / "labels" / rel
    return folder / f"{stem}_seg-manual.nii.gz", folder / f"{stem}_lesion-manual.nii.gz"


def _corners_world(img):
    shape = np.array(img.shape)
    corners = np.array([[i, j, k] for i in (-0.5, shape[0] - 0.5) for j in (-0.5, shape[1] - 0.5)
                        for k in (-0.5, shape[2] - 0.5)])
    return nib.affines.apply_affine(img.affine, corners)


@pytest.fixture(scope="module")
def participants(smoke_bids):
    return pd.read_csv(smoke_bids / "participants.tsv", sep="\t")


def test_four_sites_and_synthetic_statement(smoke_bids, participants):
    assert sorted(participants["site"].unique()) == ["BWH", "NYU", "TUM", "UCSF"]
    assert list(participants.columns) == ["participant_id", "site", "sex", "age", "n_sessions"]
    for pid, site in zip(participants["participant_id"], participants["site"]):
        assert pid.startswith(f"sub-{site.lower()}")
    description = json.loads((smoke_bids / "dataset_description.json").read_text())
    assert "SYNTHETIC" in description["Name"] and description["Synthetic"] is True
    assert "no patient data" in description["Description"]


def test_tum_has_two_sessions_of_three_overlapping_chunks(smoke_bids, participants):
    tum = participants[participants["site"] == "TUM"]["participant_id"]
    assert len(tum) == 3
    for subject in tum:
        sessions = _sessions(smoke_bids, subject)
        assert len(sessions) == 2 and sessions == sorted(sessions)
        for session in sessions:
            chunks = _chunks(smoke_bids, subject, session)
            assert [c.name.split("_chunk-")[1][0] for c in chunks] == ["1", "2", "3"]
            extents = [(_corners_world(nib.load(c))[:, 2].min(), _corners_world(nib.load(c))[:, 2].max())
                       for c in chunks]
            for (low_upper, _), (_, high_lower) in zip(extents[:-1], extents[1:]):
                overlap = high_lower - low_upper  # top of the lower chunk minus bottom of the upper chunk
                assert 0 < overlap < 40, overlap
            # chunks are numbered cranio-caudally
            assert extents[0][1] > extents[1][1] > extents[2][1]


def test_single_chunk_sites(smoke_bids, participants):
    for subject in participants[participants["site"] != "TUM"]["participant_id"]:
        sessions = _sessions(smoke_bids, subject)
        assert len(sessions) == 1
        assert [c.name.split("_chunk-")[1][0] for c in _chunks(smoke_bids, subject, sessions[0])] == ["1"]


def test_orientations_and_anisotropy(smoke_bids):
    expected = {"tum": ("L", "A", "S"), "nyu": ("L", "P", "S"), "bwh": ("L", "A", "S"), "ucsf": ("R", "A", "I")}
    for image in smoke_bids.glob("sub-*/ses-*/anat/*_T2w.nii.gz"):
        img = nib.load(image)
        site = re.match(r"sub-([a-z]+)\d+_", image.name).group(1)
        assert nib.aff2axcodes(img.affine) == expected[site]
        zooms = img.header.get_zooms()
        assert zooms[2] >= 2.5 * zooms[0]
        assert img.get_data_dtype() == np.float32


def test_cord_in_every_slice_above_the_conus(smoke_bids):
    for image in smoke_bids.glob("sub-*/ses-*/anat/*_chunk-[12]_T2w.nii.gz"):
        cord = np.asanyarray(nib.load(_labels(image)[0]).dataobj)
        assert np.all(cord.sum(axis=(0, 1)) > 0), image.name


def test_masks_binary_aligned_and_nested(smoke_bids):
    images = sorted(smoke_bids.glob("sub-*/ses-*/anat/*_T2w.nii.gz"))
    assert len(images) == 3 * 2 * 3 + 3
    n_lesion_voxels = 0
    for image in images:
        img = nib.load(image)
        cord_path, lesion_path = _labels(image)
        cord, lesion = nib.load(cord_path), nib.load(lesion_path)
        for mask in (cord, lesion):
            assert mask.shape == img.shape
            assert np.allclose(mask.affine, img.affine, atol=1e-5)
            assert mask.get_data_dtype() == np.uint8
        c, les = np.asanyarray(cord.dataobj), np.asanyarray(lesion.dataobj)
        assert set(np.unique(c)) <= {0, 1} and set(np.unique(les)) <= {0, 1}
        assert np.all(c[les == 1] == 1)
        assert c.sum() > 0
        n_lesion_voxels += int(les.sum())
        sidecar = json.loads(image.with_name(image.name.replace(".nii.gz", ".json")).read_text())
        assert set(sidecar) >= {"Manufacturer", "MagneticFieldStrength", "RepetitionTime", "EchoTime"}
        assert 1.0 < sidecar["RepetitionTime"] < 10.0 and 0.05 < sidecar["EchoTime"] < 0.15  # seconds
    assert n_lesion_voxels > 0


def test_contrast_csf_bright_cord_intermediate_lesion_hyperintense(smoke_bids):
    subject = "sub-tum001"
    session = _sessions(smoke_bids, subject)[0]
    model = load_session_model(smoke_bids, subject, session)
    c = model.contrast
    assert c["csf"] > c["lesion"] > c["cord"] > c["soft"]
    image = _chunks(smoke_bids, subject, session)[0]
    data = nib.load(image).get_fdata()
    cord = np.asanyarray(nib.load(_labels(image)[0]).dataobj).astype(bool)
    assert np.median(data[cord]) > np.median(data[~cord])


def test_ground_truth_files_and_centerline_inside_cord(smoke_bids, participants):
    for subject in participants["participant_id"]:
        for session in _sessions(smoke_bids, subject):
            files = layout.truth_files(smoke_bids, subject[4:], session[4:])
            assert all(p.is_file() for p in files.values())
            cord_img = nib.load(files["cord"])
            assert nib.aff2axcodes(cord_img.affine) == ("L", "A", "S")
            cord = np.asanyarray(cord_img.dataobj)
            lesion = np.asanyarray(nib.load(files["lesion"]).dataobj)
            assert np.all(cord[lesion == 1] == 1)
            line = read_centerline(smoke_bids, subject, session)
            assert np.all(np.diff(line[:, 2]) < 0)  # cranial to caudal
            length = np.linalg.norm(np.diff(line, axis=0), axis=1).sum()
            assert 440 < length < 560  # brainstem top to conus, true scale (mm)
            # the voxel holding each point is cord; at the conus tip the nearest voxel centre may lie below the
            # tip (outside the cord), so the last half slice is left out
            slice_mm = cord_img.header.get_zooms()[2]
            line = line[line[:, 2] >= line[-1, 2] + slice_mm / 2]
            index = np.rint(nib.affines.apply_affine(np.linalg.inv(cord_img.affine), line)).astype(int)
            assert np.all(cord[index[:, 0], index[:, 1], index[:, 2]] == 1)


def test_lesions_inside_cord_and_listed(smoke_bids, participants):
    n_checked = 0
    for subject in participants["participant_id"]:
        for session in _sessions(smoke_bids, subject):
            table = read_lesions(smoke_bids, subject, session)
            assert list(table.columns) == ["lesion_id", "status", "region", "chunk", "volume_mm3", "x_mm",
                                           "y_mm", "z_mm", "length_mm"]
            present = table[table["status"] != "vanished"]
            assert np.all(present["volume_mm3"] >= 3.0)
            for _, row in present.dropna(subset=["chunk"]).iterrows():
                image = [c for c in _chunks(smoke_bids, subject, session) if f"chunk-{row['chunk']}_" in c.name][0]
                lesion_img = nib.load(_labels(image)[1])
                voxels = np.argwhere(np.asanyarray(lesion_img.dataobj) == 1)
                world = nib.affines.apply_affine(lesion_img.affine, voxels)
                nearest = np.linalg.norm(world - row[["x_mm", "y_mm", "z_mm"]].to_numpy(float), axis=1).min()
                assert nearest <= max(lesion_img.header.get_zooms()), (subject, session, row["lesion_id"])
                n_checked += 1
    assert n_checked > 0


def test_second_session_statuses(smoke_bids, participants):
    statuses = set()
    for subject in participants[participants["site"] == "TUM"]["participant_id"]:
        first, second = (read_lesions(smoke_bids, subject, s) for s in _sessions(smoke_bids, subject))
        assert set(first["status"]) <= {"baseline"}
        assert set(second["status"]) <= {"persisting", "grown", "new", "vanished"}
        old = second[second["status"] != "new"]
        assert sorted(old["lesion_id"]) == sorted(first["lesion_id"])
        statuses |= set(second["status"])
    assert "persisting" in statuses


def test_render_truth_on_a_chunk_grid_reproduces_its_masks(smoke_bids):
    subject = "sub-tum002"
    session = _sessions(smoke_bids, subject)[1]
    for image in _chunks(smoke_bids, subject, session):
        img = nib.load(image)
        truth = render_truth(smoke_bids, subject, session, img.affine, img.shape)
        cord_path, lesion_path = _labels(image)
        assert np.array_equal(truth.cord, np.asanyarray(nib.load(cord_path).dataobj))
        assert np.array_equal(truth.lesion, np.asanyarray(nib.load(lesion_path).dataobj))
        assert truth.image.shape == img.shape


def test_render_truth_on_the_reference_grid_reproduces_the_ground_truth_files(smoke_bids):
    subject, session = "sub-nyu001", _sessions(smoke_bids, "sub-nyu001")[0]
    files = layout.truth_files(smoke_bids, subject[4:], session[4:])
    img = nib.load(files["image"])
    truth = render_truth(smoke_bids, subject, session, img.affine, img.shape, fine_mm=TRUTH_FINE_MM)
    assert np.array_equal(truth.cord, np.asanyarray(nib.load(files["cord"]).dataobj))
    assert np.array_equal(truth.lesion, np.asanyarray(nib.load(files["lesion"]).dataobj))
    assert np.allclose(truth.image, img.get_fdata(), rtol=1e-6)

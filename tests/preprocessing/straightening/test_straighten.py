"""Straightening: centerline, straight space, both fields, masks both ways, files, CLIs, and the smoke cohort.

Truth comes from phantoms with a known curve (``sclesion.data.phantoms``: a tube rendered from an independent
KD-tree geometry) and from the smoke cohort's ground truth.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from sclesion.preprocessing.straightening.centerline import fit_centerline, slice_centroids
from sclesion.cli.main import main
from sclesion.data.phantoms import Lesion, render_phantom, s_curve
from sclesion.core.errors import InputError
from sclesion.preprocessing.straightening.straighten import load_straightening, straighten, straighten_files
from sclesion.evaluation.metrics import dice
from sclesion.preprocessing.straightening.qc import (
    assess_straightening,
    centerline_error_mm,
    lesion_volume_changes,
    round_trip_dice,
    straight_cord_profile,
)
from sclesion.preprocessing.straightening.warp import apply_warp, field_positions, sample


def _line(start, direction, length_mm=140.0):
    direction = np.asarray(direction, float) / np.linalg.norm(direction)
    t = np.arange(0.0, length_mm, 0.05)
    return np.asarray(start, float) + t[:, None] * direction


@pytest.fixture(scope="module")
def vertical():
    """An upright tube off the grid's axis: straightening is a pure in-plane shift."""
    curve = _line([2.3, -1.7, -70.0], [0, 0, 1])
    return render_phantom((40, 40, 30), (1.0, 1.0, 2.0), curve, radii_mm=(4.0, 3.0), noise=0.0)


@pytest.fixture(scope="module")
def tilted():
    """A straight tube tilted 20 degrees towards anterior."""
    angle = np.radians(20.0)
    curve = _line([0.0, -30.0 * np.sin(angle) * 2.2, -70.0], [0, np.sin(angle), np.cos(angle)], 150.0)
    return render_phantom((48, 64, 40), (1.0, 1.0, 2.0), curve, radii_mm=(4.0, 3.0))


@pytest.fixture(scope="module")
def curved():
    """An S-curved cord, 0.8 x 0.8 x 3 mm voxels, tilted up to about 17 degrees."""
    curve = s_curve(np.arange(-90.0, 90.0, 0.05), amplitude_ap=8.0, amplitude_lr=3.0, wavelength_mm=150.0)
    return render_phantom((60, 60, 50), (0.8, 0.8, 3.0), curve, radii_mm=(5.0, 3.5))


@pytest.fixture(scope="module")
def curved_result(curved):
    return straighten(curved.image, curved.cord)


# --- centerline --------------------------------------------------------------------------------------------


def test_slice_centroids_are_mean_voxel_positions_in_world_mm():
    affine = np.diag([-0.5, 0.5, 4.0, 1.0])
    mask = np.zeros((10, 10, 6), np.uint8)
    for k in range(1, 5):
        mask[2:4, 6, k] = 1  # mean index (2.5, 6)
    slices, centroids = slice_centroids(mask, affine)
    np.testing.assert_array_equal(slices, [1, 2, 3, 4])
    np.testing.assert_allclose(centroids, [[-1.25, 3.0, 4.0 * k] for k in range(1, 5)])


def test_empty_mask_is_an_input_error():
    with pytest.raises(InputError, match="cord mask is empty: none of its 6 axial slices"):
        slice_centroids(np.zeros((4, 4, 6)), np.eye(4))


def test_fragmented_mask_names_the_gap():
    mask = np.zeros((4, 4, 120), np.uint8)
    mask[1, 1, 10:41] = 1  # slices 10..40
    mask[1, 1, 52:58] = 1  # slices 52..57: 31 + 6 = 37 slices, 11 empty slices between 40 and 52
    with pytest.raises(InputError) as info:
        slice_centroids(mask, np.eye(4), path="cord.nii.gz")
    assert str(info.value) == (
        "cord.nii.gz: cord mask present on 37 of 120 axial slices; gap of 11 cord-free slices between z=40 and "
        "z=52 (RPI slice index; at most 1 tolerated)"
    )


def test_one_missing_slice_is_bridged():
    mask = np.zeros((4, 4, 10), np.uint8)
    mask[1, 1, [1, 2, 3, 5, 6]] = 1
    slices, _ = slice_centroids(mask, np.eye(4))
    np.testing.assert_array_equal(slices, [1, 2, 3, 5, 6])


def test_too_few_slices():
    mask = np.zeros((4, 4, 10), np.uint8)
    mask[1, 1, 2:5] = 1
    with pytest.raises(InputError, match="present on 3 of 10 axial slices; straightening needs the cord on at least 4"):
        slice_centroids(mask, np.eye(4))


def test_fit_averages_centroid_jitter():
    rng = np.random.default_rng(3)
    k = np.arange(100)
    smooth = np.column_stack([10 * np.sin(k / 40), 5 * np.cos(k / 30), 3.0 * k])
    jitter = rng.normal(0, 0.3, (100, 2))
    noisy = smooth + np.column_stack([jitter, np.zeros(100)])
    line = fit_centerline(k, noisy, slice_thickness_mm=3.0)
    error = centerline_error_mm(line.points, smooth)
    assert error.mean() < 0.6 * np.hypot(*jitter.T).mean()
    # No wobble: a spline through the centroids would bend by about 0.3 mm / (3 mm)^2 = 0.03 / mm.
    assert np.median(np.linalg.norm(line.curvature, axis=1)) < 0.005


def test_fitted_centerline_is_arc_length_parametrized_with_an_orthonormal_frame():
    k = np.arange(30)
    points = np.column_stack([np.zeros(30), 0.02 * (k - 15.0) ** 2, 4.0 * k])
    line = fit_centerline(k, points, slice_thickness_mm=4.0)
    np.testing.assert_allclose(np.linalg.norm(np.diff(line.points, axis=0), axis=1), line.step_mm, rtol=1e-3)
    frame = np.stack([line.right, line.anterior, line.tangents], axis=1)  # rows per sample
    np.testing.assert_allclose(frame @ frame.transpose(0, 2, 1), np.broadcast_to(np.eye(3), frame.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(frame), 1.0, atol=1e-9)  # right-handed
    # A parabola y = a (z/4 - 15)^2 opens anteriorly: its centre of curvature is anterior (+y).
    middle = len(line.points) // 2
    assert line.curvature[middle, 1] > 0
    assert np.linalg.norm(line.curvature[middle]) == pytest.approx(2 * 0.02 / 16, rel=0.02)


def test_projection_solves_the_normal_plane_equation(curved_result):
    line = curved_result.centerline
    rng = np.random.default_rng(0)
    s_true = rng.uniform(5, line.length - 5, 500)
    uv = rng.uniform(-20, 20, (500, 2))
    point, right, anterior = line.point_frame(s_true)
    p = point + uv[:, :1] * right + uv[:, 1:] * anterior
    s = line.project(p, s_true + rng.uniform(-5, 5, 500))
    np.testing.assert_allclose(s, s_true, atol=2e-3)
    np.testing.assert_allclose(line.straight_coordinates(p, s), uv, atol=2e-3)


# --- straightening on phantoms -----------------------------------------------------------------------------


def test_vertical_tube_is_shifted_in_plane(vertical):
    st = straighten(vertical.image, vertical.cord, fov_mm=10.0)
    # The rasterized tube is the same on every slice; its centroid is the centerline (near 2.3, -1.7).
    voxels = np.argwhere(np.asanyarray(vertical.cord.dataobj) > 0)
    centre = (vertical.cord.affine @ [*voxels.mean(axis=0), 1])[:2]
    assert centre == pytest.approx([2.3, -1.7], abs=0.25)
    n = len(st.centerline.points)
    np.testing.assert_allclose(st.centerline.points[:, :2], np.tile(centre, (n, 1)), atol=1e-6)
    np.testing.assert_allclose(st.centerline.tangents, np.tile([0, 0, 1.0], (n, 1)), atol=1e-6)
    assert st.image.shape == (21, 21, len(st.grid.slice_s))
    assert st.grid.spacing == pytest.approx((1.0, 1.0, 2.0))
    # Native voxel (i, j, k) has straight coordinates u = x - centre x, v = y - centre y, s = z - z_first.
    positions = field_positions(st.straight_to_native)
    world = vertical.image.affine @ [20, 18, 12, 1]
    z_first = st.centerline.points[0, 2]
    expected = st.grid.origin + [world[0] - centre[0], world[1] - centre[1], world[2] - z_first]
    np.testing.assert_allclose(positions[20, 18, 12], expected, atol=1e-3)


def test_tilted_tube_keeps_its_true_cross_section(tilted):
    st = straighten(tilted.image, tilted.cord, fov_mm=12.0)
    assert centerline_error_mm(st.centerline.points, tilted.curve_mm).mean() < 0.1
    profile = straight_cord_profile(st, st.to_straight(tilted.cord), tilted.cord)
    full = profile[~profile["partial"]]
    # The native slices cut the tube obliquely (area / cos 20 deg); straight slices are orthogonal to it.
    assert full["area_mm2"].median() == pytest.approx(np.pi * 4.0 * 3.0, rel=0.05)
    assert full["area_ratio"].median() == pytest.approx(1.0, abs=0.05)
    assert full["offset_vox"].max() <= 0.5


def test_curved_cord_accuracy(curved, curved_result):
    st = curved_result
    error = centerline_error_mm(st.centerline.points, curved.curve_mm)
    assert error.mean() <= 0.2
    profile = straight_cord_profile(st, st.to_straight(curved.cord), curved.cord)
    full = profile[~profile["partial"]]
    assert full["offset_vox"].max() <= 0.5  # the straightened cord stays on the straight axis
    assert full["area_ratio"].median() == pytest.approx(1.0, abs=0.05)
    dices = round_trip_dice(st, curved.cord)
    assert dices["fields"] >= 0.99
    assert dices["pipeline"] >= 0.97


def test_fields_invert_each_other(curved, curved_result):
    st = curved_result
    # Native voxels of the cord between the end centroids: native -> straight (inverse field) -> native
    # (forward field, interpolated).
    cord = np.argwhere(np.asanyarray(curved.cord.dataobj) > 0)
    native_world = cord @ curved.cord.affine[:3, :3].T + curved.cord.affine[:3, 3]
    straight_world = field_positions(st.straight_to_native)[tuple(cord.T)]
    s = straight_world[:, 2] - st.grid.origin[2]
    within = (s >= 0) & (s <= st.centerline.length)
    assert within.mean() > 0.9
    native_world, straight_world = native_world[within], straight_world[within]
    forward = field_positions(st.native_to_straight)
    back = np.column_stack([sample(forward[..., axis], st.image.affine, straight_world, order=1) for axis in range(3)])
    assert np.abs(back - native_world).max() < 0.05


def test_masks_warp_both_ways(curved, curved_result):
    st = curved_result
    straight = st.to_straight(curved.cord, interp="linear", threshold=0.5)
    assert straight.get_data_dtype() == np.uint8
    assert straight.shape == st.image.shape
    labels = np.asanyarray(straight.dataobj).copy()
    labels[st.grid.half - 1 : st.grid.half + 2, st.grid.half - 1 : st.grid.half + 2, 20:23] = 2
    back = np.asanyarray(st.labels_to_native(nib.Nifti1Image(labels, straight.affine)).dataobj)
    assert back.shape == curved.cord.shape
    assert set(np.unique(back)) == {0, 1, 2}
    assert dice(back > 0, np.asanyarray(curved.cord.dataobj) > 0) >= 0.97


def test_straight_image_shows_the_cord_on_its_axis(curved, curved_result):
    image = np.asanyarray(curved_result.image.dataobj)
    half = curved_result.grid.half
    middle = image.shape[2] // 2
    # Phantom intensities: cord 0.5, CSF 1.0, background 0.25 (noise sd 0.02).
    assert image[half, half, middle] == pytest.approx(0.5, abs=0.1)
    assert image[half + int(round(6.5 / 0.8)), half, middle] == pytest.approx(1.0, abs=0.15)  # 6.5 mm right: CSF
    assert image[half - int(round(15 / 0.8)), half, middle] == pytest.approx(0.25, abs=0.1)  # 15 mm left


def test_orientation_does_not_change_the_result(curved, curved_result):
    # The same phantom stored P->A flipped to A->P (nibabel 'LPS'): same straight image, same inverse map.
    flip = np.diag([1.0, -1.0, 1.0, 1.0])
    flip[1, 3] = curved.image.shape[1] - 1
    affine = curved.image.affine @ flip
    image = nib.Nifti1Image(np.asanyarray(curved.image.dataobj)[:, ::-1], affine)
    cord = nib.Nifti1Image(np.asanyarray(curved.cord.dataobj)[:, ::-1], affine)
    st = straighten(image, cord)
    np.testing.assert_allclose(np.asanyarray(st.image.dataobj), np.asanyarray(curved_result.image.dataobj), atol=1e-4)
    np.testing.assert_allclose(field_positions(st.straight_to_native)[:, ::-1],
                               field_positions(curved_result.straight_to_native), atol=1e-3)


def test_deterministic(curved, curved_result):
    again = straighten(curved.image, curved.cord)
    np.testing.assert_array_equal(np.asanyarray(again.image.dataobj), np.asanyarray(curved_result.image.dataobj))
    np.testing.assert_array_equal(np.asanyarray(again.straight_to_native.dataobj),
                                  np.asanyarray(curved_result.straight_to_native.dataobj))


def test_lesions_grow_on_the_concave_side_and_shrink_on_the_convex_side():
    # A circular arc of radius 40 mm bending anteriorly (centre of curvature anterior): a lesion 3 mm anterior
    # of the centerline is on the concave side, expected to grow by 1 / (1 - 3/40); one 3 mm posterior shrinks
    # by 1 / (1 + 3/40).
    radius = 40.0
    angle = np.arange(-0.9, 0.9, 0.05 / radius)  # beyond the image: the cord crosses its top and bottom
    curve = np.column_stack([np.zeros_like(angle), radius - radius * np.cos(angle), radius * np.sin(angle)])
    s_middle = radius * 0.9
    lesions = (Lesion(s_middle - 8, 0.0, 3.0, 1.5, 1.5, 1.5), Lesion(s_middle + 8, 0.0, -3.0, 1.5, 1.5, 1.5))
    phantom = render_phantom((40, 56, 100), (0.5, 0.5, 0.5), curve, radii_mm=(5.0, 5.0), lesions=lesions, noise=0.0)
    st = straighten(phantom.image, phantom.cord, fov_mm=8.0)
    table = lesion_volume_changes(st, phantom.lesions).sort_values("s_mm")
    concave, convex = table.iloc[0], table.iloc[1]
    assert concave["concave_offset_mm"] == pytest.approx(3.0, abs=0.3)
    assert convex["concave_offset_mm"] == pytest.approx(-3.0, abs=0.3)
    assert concave["expected_ratio"] == pytest.approx(1 / (1 - 3 / 40), rel=0.01)
    assert convex["expected_ratio"] == pytest.approx(1 / (1 + 3 / 40), rel=0.01)
    assert concave["ratio_soft"] == pytest.approx(concave["expected_ratio"], rel=0.02)
    assert convex["ratio_soft"] == pytest.approx(convex["expected_ratio"], rel=0.02)


def test_straighten_input_errors(curved):
    with pytest.raises(InputError, match="differs from the image.s shape"):
        straighten(curved.image, nib.Nifti1Image(np.zeros((60, 60, 49), np.uint8), curved.image.affine))
    with pytest.raises(InputError, match="must be 3D"):
        straighten(nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.float32), np.eye(4)), curved.cord)
    with pytest.raises(InputError, match="field of view half width must be > 0"):
        straighten(curved.image, curved.cord, fov_mm=0)
    with pytest.raises(InputError, match="unknown interpolation"):
        straighten(curved.image, curved.cord, interp="cubic")


def test_a_cord_lying_in_the_slices_is_refused():
    # A tube running left-right at 80 degrees from the slice normal: the slices do not cut across it.
    angle = np.radians(80.0)
    curve = _line([-60.0 * np.sin(angle), 0.0, -60.0 * np.cos(angle)], [np.sin(angle), 0, np.cos(angle)], 120.0)
    phantom = render_phantom((100, 20, 20), (1.0, 1.0, 1.0), curve, radii_mm=(3.0, 3.0), noise=0.0)
    with pytest.raises(InputError, match=r"tilted (79|80|81) degrees from the slice normal \(at most 70"):
        straighten(phantom.image, phantom.cord)


# --- files and command line --------------------------------------------------------------------------------


@pytest.fixture()
def tilted_files(tilted, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    paths = {"image": folder / "sub-x_T2w.nii.gz", "cord": folder / "sub-x_T2w_seg-manual.nii.gz",
             "lesion": folder / "sub-x_T2w_lesion-manual.nii.gz"}
    nib.save(tilted.image, paths["image"])
    nib.save(tilted.cord, paths["cord"])
    nib.save(tilted.cord, paths["lesion"])
    return paths


def test_straighten_files_writes_and_then_skips(tilted_files, tmp_path):
    out = tmp_path / "out"
    written = straighten_files(tilted_files["image"], tilted_files["cord"], out, fov_mm=12.0,
                               masks=(tilted_files["cord"],))
    assert not written.skipped
    assert written.image == out / "sub-x_T2w.nii.gz"
    assert written.native_to_straight.name == "sub-x_T2w_from-native_to-straight_xfm.nii.gz"
    assert written.straight_to_native.name == "sub-x_T2w_from-straight_to-native_xfm.nii.gz"
    assert all(path.exists() for path in written.all)
    assert nib.load(written.native_to_straight).shape[3:] == (1, 3)
    assert nib.load(written.straight_to_native).shape[:3] == nib.load(tilted_files["image"]).shape
    mask = np.asanyarray(nib.load(written.masks[str(tilted_files["cord"])]).dataobj)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert "curvature_per_mm" in written.centerline.read_text().splitlines()[0]
    stamps = [path.stat().st_mtime_ns for path in written.all]
    again = straighten_files(tilted_files["image"], tilted_files["cord"], out, fov_mm=12.0,
                             masks=(tilted_files["cord"],))
    assert again.skipped
    assert [path.stat().st_mtime_ns for path in again.all] == stamps
    assert not list(out.glob(".*part*"))  # no temporary leftovers


def test_straighten_files_never_overwrites_inputs(tilted_files):
    with pytest.raises(InputError, match="is an input of this command"):
        straighten_files(tilted_files["image"], tilted_files["cord"], tilted_files["image"].parent)


def test_cli_straighten_then_apply_warp_round_trip(tilted_files, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["straighten", "-i", str(tilted_files["image"]), "-s", str(tilted_files["cord"]), "-o", str(out),
                 "--fov-mm", "12", "--mask", str(tilted_files["cord"])]) == 0
    assert "written" in capsys.readouterr().out
    straight_cord = out / tilted_files["cord"].name
    back = tmp_path / "back.nii.gz"
    assert main(["apply-warp", "-i", str(straight_cord),
                 "-w", str(out / "sub-x_T2w_from-straight_to-native_xfm.nii.gz"),
                 "-r", str(tilted_files["image"]), "-o", str(back), "--interp", "linear", "--threshold", "0.5"]) == 0
    # The same as the library call, and close to the native mask.
    expected = apply_warp(nib.load(straight_cord), nib.load(out / "sub-x_T2w_from-straight_to-native_xfm.nii.gz"),
                          nib.load(tilted_files["image"]), interp="linear", threshold=0.5)
    np.testing.assert_array_equal(np.asanyarray(nib.load(back).dataobj), np.asanyarray(expected.dataobj))
    native = np.asanyarray(nib.load(tilted_files["cord"]).dataobj) > 0
    assert dice(np.asanyarray(nib.load(back).dataobj) > 0, native) >= 0.85
    assert main(["apply-warp", "-i", str(straight_cord),
                 "-w", str(out / "sub-x_T2w_from-straight_to-native_xfm.nii.gz"),
                 "-r", str(tilted_files["image"]), "-o", str(back), "--interp", "linear", "--threshold", "0.5"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_cli_errors_are_one_line(tilted_files, tmp_path, capsys):
    empty = tmp_path / "empty.nii.gz"
    image = nib.load(tilted_files["image"])
    nib.save(nib.Nifti1Image(np.zeros(image.shape, np.uint8), image.affine), empty)
    assert main(["straighten", "-i", str(tilted_files["image"]), "-s", str(empty), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sclesion straighten: error: ") and "cord mask is empty" in err and "\n" not in err
    assert main(["apply-warp", "-i", str(tilted_files["cord"]), "-w", str(tilted_files["image"]),
                 "-r", str(tilted_files["image"]), "-o", str(tmp_path / "x.nii.gz")]) == 2
    assert "not a warping field" in capsys.readouterr().err


# --- the smoke cohort --------------------------------------------------------------------------------------


def test_smoke_session_against_ground_truth(smoke_bids):
    from sclesion.data.synthetic import read_centerline

    subject, session = "sub-tum001", "ses-20160102"
    anat = smoke_bids / subject / session / "anat"
    labels = smoke_bids / "derivatives" / "labels" / subject / session / "anat"
    truth = read_centerline(smoke_bids, subject, session)
    for chunk in (1, 2, 3):
        stem = f"{subject}_{session}_acq-ax_chunk-{chunk}_T2w"
        image, cord = nib.load(anat / f"{stem}.nii.gz"), nib.load(labels / f"{stem}_seg-manual.nii.gz")
        lesion = nib.load(labels / f"{stem}_lesion-manual.nii.gz")
        summary, lesions = assess_straightening(straighten(image, cord), cord, lesion, truth)
        assert summary["centerline_error_mm"] <= 0.4
        assert summary["centerline_error_mm"] <= summary["centroid_error_mm"] + 0.05  # no worse than its input
        assert summary["offset_mean_vox"] <= 0.5
        assert summary["area_ratio_median"] == pytest.approx(1.0, abs=0.05)
        assert summary["round_trip_fields"] >= 0.99
        assert summary["round_trip_pipeline"] >= 0.95
        large = lesions[lesions["volume_native_mm3"] >= 10]
        assert ((large["ratio_soft"] - 1).abs() <= 0.1).all()


def test_load_straightening_reads_back_what_straighten_files_wrote(tilted_files, tmp_path):
    written = straighten_files(tilted_files["image"], tilted_files["cord"], tmp_path / "out", fov_mm=12.0)
    loaded = load_straightening(written.image, written.native_to_straight, written.straight_to_native,
                                tilted_files["image"], tilted_files["cord"], fov_mm=12.0)
    fresh = straighten(nib.load(tilted_files["image"]), nib.load(tilted_files["cord"]), fov_mm=12.0)
    assert loaded.grid.shape == fresh.grid.shape
    np.testing.assert_allclose(loaded.centerline.points, fresh.centerline.points)
    for name in ("native_to_straight", "straight_to_native"):
        np.testing.assert_array_equal(np.asanyarray(getattr(loaded, name).dataobj),
                                      np.asanyarray(getattr(fresh, name).dataobj))
    cord = nib.load(tilted_files["cord"])
    same = [np.asanyarray(st.to_straight(cord, interp="linear", threshold=0.5).dataobj) for st in (loaded, fresh)]
    assert np.count_nonzero(same[0] != same[1]) <= 2  # the files' float32 affines move positions by ~1e-5 mm
    with pytest.raises(InputError, match="not the one its cord mask gives"):
        load_straightening(written.image, written.native_to_straight, written.straight_to_native,
                           tilted_files["image"], tilted_files["cord"], fov_mm=20.0)

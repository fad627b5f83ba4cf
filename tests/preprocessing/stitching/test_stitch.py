"""Stitching (sclesion.preprocessing.stitching.stitch*): geometry, blending, masks, orientations, gaps, bad input,
files and CLI.

Chunks are cut from small volumes made here, or rendered from a smooth function of world position so that
the stitched image can be compared with the function on the output grid.
"""

from __future__ import annotations

import itertools

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from sclesion.cli.main import main as cli_main
from sclesion.core.errors import InputError
from sclesion.preprocessing.stitching.stitch import stitch_files, stitch_images
from sclesion.preprocessing.stitching.grid import plan_grid
from sclesion.preprocessing.stitching.resample import cubic_along

SPACING = (0.5, 0.5, 4.0)


def volume_affine(spacing=SPACING, origin=(-6.0, -5.0, -40.0)) -> np.ndarray:
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = origin
    return affine


def cut(data: np.ndarray, affine: np.ndarray, k0: int, k1: int) -> nib.Nifti1Image:
    """Slices k0..k1-1 (axis 2) of a volume as a chunk with its own affine."""
    chunk_affine = affine.copy()
    chunk_affine[:3, 3] = affine[:3, :3] @ [0, 0, k0] + affine[:3, 3]
    return nib.Nifti1Image(np.ascontiguousarray(data[:, :, k0:k1]), chunk_affine)


def world_centres(img: nib.Nifti1Image) -> np.ndarray:
    """World coordinates (mm) of every voxel centre, shape (X, Y, Z, 3)."""
    index = np.stack(np.meshgrid(*[np.arange(n) for n in img.shape], indexing="ij"), axis=-1)
    return index @ img.affine[:3, :3].T + img.affine[:3, 3]


def smooth(points: np.ndarray) -> np.ndarray:
    """A smooth test signal of world position (mm), values in about [-3, 3]."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    return (np.sin(x / 3.0) + np.cos(y / 4.0) + np.sin(z / 17.0)).astype(np.float32)


def render(affine: np.ndarray, shape: tuple[int, int, int]) -> nib.Nifti1Image:
    img = nib.Nifti1Image(np.zeros(shape, np.float32), affine)
    return nib.Nifti1Image(smooth(world_centres(img)), affine)


def flip_axis(img: nib.Nifti1Image, axis: int) -> nib.Nifti1Image:
    """The same image stored with one voxel axis reversed (e.g. RAS -> LAS): same world content."""
    affine = img.affine.copy()
    n = img.shape[axis]
    affine[:3, 3] = affine[:3, :3] @ np.eye(3)[axis] * (n - 1) + affine[:3, 3]
    affine[:3, axis] *= -1
    return nib.Nifti1Image(np.flip(np.asarray(img.dataobj), axis=axis).copy(), affine)


def permute_axes(img: nib.Nifti1Image, order: tuple[int, int, int]) -> nib.Nifti1Image:
    """The same image stored with its voxel axes permuted: same world content."""
    affine = img.affine.copy()
    affine[:3, :3] = img.affine[:3, list(order)]
    return nib.Nifti1Image(np.transpose(np.asarray(img.dataobj), order).copy(), affine)


def rotation_x(degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


@pytest.fixture
def volume() -> tuple[np.ndarray, np.ndarray]:
    """A 24x20x30 random volume (0.5x0.5x4 mm) with a tube mask ('cord') through every slice."""
    rng = np.random.default_rng(0)
    data = rng.uniform(100, 200, size=(24, 20, 30)).astype(np.float32)
    return data, volume_affine()


def tube_mask(shape) -> np.ndarray:
    i, j = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    disc = ((i - shape[0] / 2) ** 2 + (j - shape[1] / 2) ** 2) <= 16
    return np.repeat(disc[:, :, None], shape[2], axis=2).astype(np.uint8)


# --- geometry --------------------------------------------------------------------------------------------


def test_grid_is_exactly_the_union_and_values_are_kept(volume):
    data, affine = volume
    chunks = [cut(data, affine, 0, 12), cut(data, affine, 9, 22), cut(data, affine, 20, 30)]
    result = stitch_images(chunks, is_mask=False)
    out = result.image
    assert out.shape == data.shape
    np.testing.assert_allclose(out.affine, affine, atol=1e-9)
    # first output slice centre = lowest input slice centre; last = highest (TPTBox drops one, adds two)
    first = out.affine @ [0, 0, 0, 1]
    last = out.affine @ [0, 0, out.shape[2] - 1, 1]
    assert first[2] == pytest.approx(chunks[0].affine[2, 3])
    assert last[2] == pytest.approx((chunks[2].affine @ [0, 0, chunks[2].shape[2] - 1, 1])[2])
    # chunks agree in the overlaps, so the weighted sum gives back the volume
    np.testing.assert_allclose(out.get_fdata(), data, rtol=1e-6)
    assert out.get_data_dtype() == np.float32


def test_input_order_does_not_matter(volume):
    data, affine = volume
    chunks = [cut(data, affine, 0, 12), cut(data, affine, 9, 22), cut(data, affine, 20, 30)]
    a = stitch_images(chunks, is_mask=False).image
    b = stitch_images(chunks[::-1], is_mask=False).image
    np.testing.assert_array_equal(a.affine, b.affine)
    np.testing.assert_array_equal(a.get_fdata(), b.get_fdata())


def test_output_spacing_is_per_axis_minimum_matched_by_direction():
    a = nib.Nifti1Image(np.zeros((10, 8, 5), np.float32), volume_affine((0.5, 0.6, 4.0)))
    # chunk b stores its axes as (S-I, L-R, A-P) with sizes 3, 0.7, 0.4 mm
    b_affine = np.zeros((4, 4))
    b_affine[0, 1], b_affine[1, 2], b_affine[2, 0], b_affine[3, 3] = 0.7, 0.4, 3.0, 1.0
    b_affine[:3, 3] = (-6.0, -5.0, -30.0)
    b = nib.Nifti1Image(np.zeros((6, 8, 10), np.float32), b_affine)
    grid = plan_grid([a.affine, b.affine], [a.shape, b.shape])
    np.testing.assert_allclose(grid.spacing, [0.5, 0.4, 3.0])  # per world axis, not per voxel axis


def test_rotation_with_the_smallest_box_wins():
    # Two chunks tilted by 30 degrees stacked along their own slice axis: their own rotation boxes them
    # tightly; the axis-aligned third chunk (small, inside the others' box) must not impose its rotation.
    tilted = volume_affine((1.0, 1.0, 2.0), (0.0, 0.0, 0.0))
    tilted[:3, :3] = rotation_x(30) @ tilted[:3, :3]
    upper = tilted.copy()
    upper[:3, 3] = tilted[:3, :3] @ [0, 0, 15]
    small = volume_affine((1.0, 1.0, 2.0), (4.5, -11.2, 27.5))  # near the middle of the tilted stack
    imgs = [render(small, (2, 2, 2)), render(tilted, (10, 10, 20)), render(upper, (10, 10, 20))]
    result = stitch_images(imgs, is_mask=False)
    assert result.report.reference == 1
    np.testing.assert_allclose(result.image.affine[:3, :3], tilted[:3, :3], atol=1e-9)
    assert result.image.shape == (10, 10, 35)


# --- ramp weights and masks --------------------------------------------------------------------------------


def test_ramp_weights_are_linear_across_an_odd_overlap():
    shape = (6, 5, 10)
    affine = volume_affine()
    a = nib.Nifti1Image(np.full(shape, 100.0, np.float32), affine)
    b_affine = affine.copy()
    b_affine[2, 3] += 7 * 4.0  # chunk b starts at a's slice 7: overlap of 3 slices (7, 8, 9)
    b = nib.Nifti1Image(np.full(shape, 200.0, np.float32), b_affine)
    result = stitch_images([a, b], is_mask=False)
    assert result.image.shape == (6, 5, 17)
    profile = result.image.get_fdata()[3, 2, :]
    expected = np.r_[[100.0] * 7, 0.75 * 100 + 0.25 * 200, 150.0, 0.25 * 100 + 0.75 * 200, [200.0] * 7]
    np.testing.assert_allclose(profile, expected, rtol=1e-6)
    (region,) = result.weights
    column = region.weights[:, 3, 2, :]  # box spans slices 6..10 (overlap padded by one)
    np.testing.assert_allclose(column[0], [1.0, 0.75, 0.5, 0.25, 0.0])
    np.testing.assert_allclose(column.sum(axis=0), 1.0)
    assert result.report.junctions[0].overlap_mm == pytest.approx(12.0)


def test_mask_stays_whole_where_ramp_weights_tie():
    shape = (12, 10, 10)
    affine = volume_affine()
    tube = tube_mask(shape)
    b_affine = affine.copy()
    b_affine[2, 3] += 7 * 4.0  # 3-slice overlap: the middle slice has weights 0.5 / 0.5
    result = stitch_images([nib.Nifti1Image(tube, affine), nib.Nifti1Image(tube, b_affine)], is_mask=True)
    out = np.asarray(result.image.dataobj)
    assert out.dtype == np.uint8
    per_slice = out.sum(axis=(0, 1))
    assert (per_slice == tube[:, :, 0].sum()).all()  # every slice, the tie slice 8 included, is whole


def test_mask_vote_follows_the_ramp_and_keeps_ties():
    shape = (4, 4, 10)
    affine = volume_affine()
    a = np.zeros(shape, np.uint8)
    a[:, :, 7:] = 1  # chunk a marks its whole overlap (slices 7, 8, 9), chunk b marks nothing
    b_affine = affine.copy()
    b_affine[2, 3] += 7 * 4.0
    result = stitch_images([nib.Nifti1Image(a, affine), nib.Nifti1Image(np.zeros(shape, np.uint8), b_affine)], True)
    column = np.asarray(result.image.dataobj)[0, 0, :]
    # weights of a over the overlap: 0.75 (kept), 0.5 (tie kept), 0.25 (outvoted)
    np.testing.assert_array_equal(column[6:11], [0, 1, 1, 0, 0])


def test_label_maps_vote_per_label():
    shape = (3, 3, 10)
    affine = volume_affine()
    a = np.ones(shape, np.uint8)
    a[:, :, 7:] = 2  # lesion (2) in a's overlap, cord (1) in b's
    b_affine = affine.copy()
    b_affine[2, 3] += 7 * 4.0
    out = stitch_images([nib.Nifti1Image(a, affine), nib.Nifti1Image(np.ones(shape, np.uint8), b_affine)], True)
    np.testing.assert_array_equal(np.asarray(out.image.dataobj)[1, 1, 6:11], [1, 2, 2, 1, 1])


# --- orientations --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_flipped_chunk_gives_the_same_result(volume, axis):
    data, affine = volume
    chunks = [cut(data, affine, 0, 16), cut(data, affine, 13, 30)]
    reference = stitch_images(chunks, is_mask=False).image
    flipped = stitch_images([chunks[0], flip_axis(chunks[1], axis)], is_mask=False).image
    np.testing.assert_allclose(flipped.affine, reference.affine, atol=1e-9)
    np.testing.assert_allclose(flipped.get_fdata(), reference.get_fdata(), rtol=1e-6)


def test_lps_chunks_keep_their_orientation(volume):
    data, affine = volume
    chunks = [flip_axis(flip_axis(cut(data, affine, k0, k1), 0), 1) for k0, k1 in ((0, 16), (13, 30))]
    out = stitch_images(chunks, is_mask=False).image
    assert nib.aff2axcodes(out.affine) == ("L", "P", "S")
    ras = nib.as_closest_canonical(out)
    np.testing.assert_allclose(ras.affine, affine, atol=1e-9)
    np.testing.assert_allclose(ras.get_fdata(), data, rtol=1e-6)


@pytest.mark.parametrize("order", [o for o in itertools.permutations(range(3)) if o != (0, 1, 2)])
def test_permuted_chunk_gives_the_same_result(volume, order):
    data, affine = volume
    chunks = [cut(data, affine, 0, 16), cut(data, affine, 13, 30)]
    reference = stitch_images(chunks, is_mask=False).image
    permuted = stitch_images([chunks[0], permute_axes(chunks[1], order)], is_mask=False).image
    np.testing.assert_allclose(permuted.affine, reference.affine, atol=1e-9)
    np.testing.assert_allclose(permuted.get_fdata(), reference.get_fdata(), rtol=1e-6)


def test_off_grid_and_oblique_chunks_are_interpolated_accurately():
    base = volume_affine((1.0, 1.0, 2.0), (-20.0, -20.0, -40.0))
    shifted = base.copy()
    shifted[:3, 3] += (0.3, -0.4, 27.1)  # off the first chunk's grid in all three axes
    oblique = base.copy()
    oblique[:3, :3] = rotation_x(8) @ base[:3, :3]
    oblique[:3, 3] += (0.0, 0.0, 50.0)
    chunks = [render(base, (40, 40, 20)), render(shifted, (40, 40, 20)), render(oblique, (40, 40, 20))]
    result = stitch_images(chunks, is_mask=False)
    out = result.image
    values = out.get_fdata()
    truth = smooth(world_centres(out))
    covered = values != 0
    # 3 voxels away from the covered region's border: splines extend the edge value beyond a chunk's end,
    # which is only approximate within a few voxels of it
    interior = ndimage.binary_erosion(covered, iterations=3, border_value=0)
    assert covered.mean() > 0.8 and interior.mean() > 0.5
    error = np.abs(values - truth)[interior]
    assert np.median(error) < 1e-4
    assert error.max() < 0.01  # signal amplitude ~3


def test_cubic_along_reproduces_samples_and_cubics():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(5, 30)).astype(np.float32)
    np.testing.assert_allclose(cubic_along(data, 1, np.arange(30.0)), data, atol=1e-5)
    x = np.arange(30.0)
    cubic = (0.01 * (x - 10) ** 3 - 0.2 * x**2 + x).astype(np.float32)
    at = np.linspace(8.0, 22.0, 29)
    # a cubic spline is exact for cubics away from the ends (the edge extension decays as 0.268^distance)
    np.testing.assert_allclose(cubic_along(cubic[None, :], 1, at)[0], 0.01 * (at - 10) ** 3 - 0.2 * at**2 + at,
                               atol=1e-3)


# --- gaps --------------------------------------------------------------------------------------------------


def test_gap_is_left_empty_and_reported(volume):
    data, affine = volume
    chunks = [cut(data, affine, 0, 12), cut(data, affine, 13, 30)]  # slice 12 never acquired
    result = stitch_images(chunks, is_mask=False)
    assert result.image.shape == data.shape  # the grid still spans the union, gap included
    values = result.image.get_fdata()
    assert (values[:, :, 12] == 0).all()
    np.testing.assert_allclose(values[:, :, 13:], data[:, :, 13:], rtol=1e-6)
    (gap,) = result.report.gaps
    assert gap.gap_mm == pytest.approx(4.0)  # voxel edges 46 mm and 50 mm above the origin slice
    assert result.report.empty_slices == (12,)
    assert "gap of 4.0 mm between chunk 1 and chunk 2" in result.report.messages()[0]
    assert result.weights == []


def test_chunk_inside_another_blends_and_reports_its_own_length():
    big = render(volume_affine((1.0, 1.0, 2.0), (0.0, 0.0, 0.0)), (20, 20, 20))
    small = render(volume_affine((1.0, 1.0, 2.0), (5.0, 5.0, 10.0)), (5, 5, 6))
    result = stitch_images([big, small], is_mask=False)
    np.testing.assert_allclose(result.image.get_fdata(), big.get_fdata(), atol=1e-6)
    (junction,) = result.report.junctions
    assert junction.overlap_mm == pytest.approx(12.0)  # the small chunk's length, not the distance to big's end


def test_overlap_and_gap_table(volume):
    data, affine = volume
    chunks = [cut(data, affine, 0, 12), cut(data, affine, 10, 20), cut(data, affine, 22, 30)]
    table = stitch_images(chunks, is_mask=False).report.table()
    assert table["overlap (mm)"].tolist() == [8.0, 0.0]
    assert table["gap (mm)"].tolist() == [0.0, 8.0]


# --- bad input ------------------------------------------------------------------------------------------------


def test_bad_inputs_raise_input_error(volume):
    data, affine = volume
    good = cut(data, affine, 0, 10)
    with pytest.raises(InputError, match="no chunks"):
        stitch_images([], is_mask=False)
    with pytest.raises(InputError, match="4D"):
        stitch_images([good, nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.float32), affine)], is_mask=False)
    nan = data[:, :, :10].copy()
    nan[1, 1, 1] = np.nan
    with pytest.raises(InputError, match="chunk 2: .*NaN"):
        stitch_images([good, nib.Nifti1Image(nan, affine)], is_mask=False)
    with pytest.raises(InputError, match="expected a nibabel image"):
        stitch_images([good, data], is_mask=False)
    singular = np.diag([1.0, 1.0, 1.0, 1.0])
    singular[:3, 1] = singular[:3, 0]  # two voxel axes along the same world direction
    with pytest.raises(InputError, match="singular"):
        stitch_images([good, nib.Nifti1Image(data[:, :, :10], singular)], is_mask=False)
    with pytest.raises(InputError, match="integer labels"):
        stitch_images([good], is_mask=True)


def test_mix_of_images_and_masks_is_refused(volume):
    data, affine = volume
    image = cut(data, affine, 0, 16)
    mask = cut(tube_mask(data.shape), affine, 13, 30)
    with pytest.raises(InputError, match="mix of images and masks"):
        stitch_images([image, mask], is_mask=False)


# --- files and CLI -------------------------------------------------------------------------------------------


def write_chunks(folder, data, affine, name, bounds=((0, 12), (9, 22), (20, 30))) -> list:
    paths = []
    for k, (k0, k1) in enumerate(bounds, start=1):
        path = folder / name.format(k=k)
        nib.save(cut(data, affine, k0, k1), path)
        paths.append(path)
    return paths


def test_stitch_files_detects_kind_writes_dtype_and_skips_existing(tmp_path, volume):
    data, affine = volume
    images = write_chunks(tmp_path, data, affine, "sub-a_ses-1_acq-ax_chunk-{k}_T2w.nii.gz")
    masks = write_chunks(tmp_path, tube_mask(data.shape), affine, "sub-a_ses-1_acq-ax_chunk-{k}_T2w_seg-manual.nii.gz")
    unnamed = write_chunks(tmp_path, tube_mask(data.shape), affine, "part{k}.nii.gz")
    out_image, out_mask, out_unnamed = tmp_path / "out" / "img.nii.gz", tmp_path / "seg.nii.gz", tmp_path / "u.nii"
    report = stitch_files(images, out_image)
    stitch_files(masks, out_mask)
    stitch_files(unnamed, out_unnamed)  # no kind in the names: told by the values
    assert nib.load(out_image).get_data_dtype() == np.float32
    assert nib.load(out_mask).get_data_dtype() == np.uint8
    assert nib.load(out_unnamed).get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(nib.load(out_mask).dataobj), tube_mask(data.shape))
    assert report.shape == data.shape
    assert not list(tmp_path.rglob("*.part*"))  # atomic: no temporary left behind
    before = out_image.stat().st_mtime_ns
    again = stitch_files(images, out_image)
    assert out_image.stat().st_mtime_ns == before
    assert again.shape == report.shape and again.junctions == report.junctions


def test_stitch_files_refuses_mixed_subjects_kinds_and_broken_files(tmp_path, volume):
    data, affine = volume
    a = write_chunks(tmp_path, data, affine, "sub-a_ses-1_chunk-{k}_T2w.nii.gz", bounds=((0, 16),))
    b = write_chunks(tmp_path, data, affine, "sub-b_ses-1_chunk-{k}_T2w.nii.gz", bounds=((13, 30),))
    c = write_chunks(tmp_path, data, affine, "sub-a_ses-2_chunk-{k}_T2w.nii.gz", bounds=((13, 30),))
    m = write_chunks(tmp_path, tube_mask(data.shape), affine, "sub-a_ses-1_chunk-{k}_T2w_lesion-manual.nii.gz",
                     bounds=((13, 30),))
    with pytest.raises(InputError, match="different subjects"):
        stitch_files(a + b, tmp_path / "o.nii.gz")
    with pytest.raises(InputError, match="different subjects"):  # in memory, the names come from nibabel
        stitch_images([nib.load(p) for p in a + b], is_mask=False)
    with pytest.raises(InputError, match="different sessions"):
        stitch_files(a + c, tmp_path / "o.nii.gz")
    with pytest.raises(InputError, match="mix of images and masks"):
        stitch_files(a + m, tmp_path / "o.nii.gz")
    broken = tmp_path / "sub-a_ses-1_chunk-9_T2w.nii.gz"
    broken.write_bytes(b"not a nifti file")
    with pytest.raises(InputError, match="cannot read"):
        stitch_files(a + [broken], tmp_path / "o.nii.gz")
    with pytest.raises(InputError, match="given twice"):
        stitch_files(a + a, tmp_path / "o.nii.gz")
    with pytest.raises(InputError, match="must be a .nii"):
        stitch_files(a, tmp_path / "o.png")
    flat = tmp_path / "sub-a_ses-1_chunk-8_T2w.nii.gz"
    singular = np.eye(4)
    singular[:3, 1] = singular[:3, 0]  # two voxel axes along world x: the file loads, the chunk cannot be placed
    nib.save(nib.Nifti1Image(data[:, :, :4], singular), flat)
    with pytest.raises(InputError, match="singular"):
        stitch_files(a + [flat], tmp_path / "o.nii.gz")
    assert not (tmp_path / "o.nii.gz").exists()


def test_cli_stitches_and_reports_errors(tmp_path, volume, capsys):
    data, affine = volume
    paths = write_chunks(tmp_path, data, affine, "c{k}_T2w.nii.gz", bounds=((0, 12), (13, 30)))
    out = tmp_path / "whole_T2w.nii.gz"
    assert cli_main(["stitch", "-i", *map(str, paths), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "written" in captured.out and "gap of 4.0 mm" in captured.err
    assert nib.load(out).shape == data.shape
    assert cli_main(["stitch", "-i", *map(str, paths), "-o", str(out)]) == 0  # same chunks and options
    assert "up to date" in capsys.readouterr().out
    assert cli_main(["stitch", "-i", *map(str, paths), "-o", str(out), "--mask"]) == 2  # another option: redone
    assert "integer labels" in capsys.readouterr().err
    assert cli_main(["stitch", "-i", str(paths[0]), "-o", str(tmp_path / "m.nii.gz"), "--mask"]) == 2
    assert "integer labels" in capsys.readouterr().err


# --- the smoke cohort: a BIDS dataset stitched, then checked against the synthetic truth --------------------


@pytest.fixture(scope="module")
def smoke_stitched(smoke_bids, tmp_path_factory):
    from sclesion.preprocessing.stitching.bids import stitch_dataset

    out_root = tmp_path_factory.mktemp("stitched")
    table = stitch_dataset(smoke_bids, out_root, participants=["sub-tum001"], progress=False)
    return smoke_bids, out_root, table


def test_stitched_dataset_is_bids_with_labels(smoke_stitched):
    from sclesion.data.bids import discover

    _, out_root, table = smoke_stitched
    assert len(table) == 2 and (table["n_chunks"] == 3).all() and (table["gap_mm"] == 0).all()
    found = discover(out_root, require_labels=True)
    assert sorted(found["session"]) == sorted(table["session"])
    assert found["chunk"].isna().all()  # stitched images drop the chunk entity
    assert all("_chunk-" not in p.name for p in found["image"])


def test_smoke_sessions_match_the_truth(smoke_stitched):
    from sclesion.preprocessing.stitching.validation import validate_sessions

    bids_root, _, table = smoke_stitched
    result = validate_sessions(table, bids_root, synthetic=True)
    # the TUM-like chunks of a session share one voxel lattice (composed stations), so stitching must be
    # lossless: cord Dice >= 0.98 against the truth, in the overlaps as well
    assert (result["cord_dice"] >= 0.98).all()
    assert (result["cord_dice_overlap"] >= 0.98).all()
    assert (result["mae_stitched"] < 1.25 * result["mae_chunks"]).all()  # no worse than the chunks' own noise
    assert ((result["stitched"] - result["true_lesions"]).abs() <= 1).all()
    assert (result["stitched"] <= result["chunked"]).all()


def test_coverage_count_counts_overlaps(volume):
    from sclesion.preprocessing.stitching.validation import coverage_count

    data, affine = volume
    chunks = [cut(data, affine, 0, 12), cut(data, affine, 9, 22), cut(data, affine, 20, 30)]
    count = coverage_count(affine, data.shape, chunks)
    np.testing.assert_array_equal(count[0, 0], [1] * 9 + [2] * 3 + [1] * 8 + [2] * 2 + [1] * 8)

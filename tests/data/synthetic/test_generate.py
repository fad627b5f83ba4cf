"""The synthetic cohort generator: determinism, checksums, cache, and the lesion model's distribution."""

from __future__ import annotations

import numpy as np
import pytest

from sclesion.core.errors import InputError
from sclesion.data.synthetic import compare_checksums, file_checksums, generate_cohort, load_spec, spec_hash
from sclesion.data.synthetic.anatomy import sample_anatomy
from sclesion.data.synthetic.lesions import REGIONS, sample_baseline, sample_volumes


def _tiny_spec(seed=42):
    """One BWH-like subject: generated in well under a second."""
    spec = load_spec("smoke", seed=seed)
    spec["sites"] = {"BWH": 1}
    spec["site_params"] = {"BWH": spec["site_params"]["BWH"]}
    return spec


def test_same_seed_is_byte_identical_to_the_fixture_and_the_manifest(smoke_bids, repo_root, tmp_path):
    fresh = generate_cohort("smoke", tmp_path / "bids", progress=False)
    assert fresh.generated
    assert file_checksums(fresh.root) == file_checksums(smoke_bids)
    manifest = repo_root / "data_manifest" / "checksums" / "smoke.sha256"
    assert compare_checksums(smoke_bids, manifest) == []


def test_different_seed_differs(tmp_path):
    a = dict(file_checksums(generate_cohort(_tiny_spec(1), tmp_path / "a", progress=False).root))
    b = dict(file_checksums(generate_cohort(_tiny_spec(2), tmp_path / "b", progress=False).root))
    images = [p for p in a if p.endswith("_T2w.nii.gz")]
    assert images and all(a[p] != b.get(p) for p in images)


def test_cache_skips_and_regenerates_on_spec_change(tmp_path):
    out = tmp_path / "bids"
    spec = _tiny_spec()
    first = generate_cohort(spec, out, progress=False)
    assert first.generated
    before = file_checksums(out)
    again = generate_cohort(spec, out, progress=False)
    assert not again.generated and again.spec_hash == first.spec_hash
    assert file_checksums(out) == before
    changed = _tiny_spec()
    changed["site_params"]["BWH"]["contrast"]["cord"] = 0.4
    assert spec_hash(changed) != spec_hash(spec)
    third = generate_cohort(changed, out, progress=False)
    assert third.generated
    after = dict(file_checksums(out))
    images = [p for p in after if p.endswith("chunk-1_T2w.nii.gz")]
    assert images and all(after[p] != dict(before)[p] for p in images)
    assert not list(tmp_path.glob(".bids.tmp-*")) and not list(tmp_path.glob(".bids.old-*"))


def test_refuses_to_overwrite_a_folder_that_is_not_a_synthetic_cohort(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "participants.tsv").write_text("participant_id\nsub-01\n")
    with pytest.raises(InputError, match="not a synthetic cohort"):
        generate_cohort(_tiny_spec(), tmp_path / "real", progress=False)


def test_unknown_cohort_is_an_input_error():
    with pytest.raises(InputError, match="no such cohort spec"):
        load_spec("nonexistent")


@pytest.fixture(scope="module")
def demo_lesions():
    """Baseline lesions of 300 subjects drawn with the demo spec's lesion model (sampled, not rendered)."""
    params = load_spec("demo")["lesions"]
    rng = np.random.default_rng(0)
    anatomies, subjects = [], []
    for _ in range(300):
        anatomies.append(sample_anatomy(rng))
        subjects.append(sample_baseline(anatomies[-1], params, rng)[0])
    return params, subjects, anatomies


def test_lesion_volumes_mostly_below_50_mm3(demo_lesions):
    params, subjects, _ = demo_lesions
    volumes = np.array([lesion.volume_mm3 for lesions in subjects for lesion in lesions])
    assert len(volumes) > 300
    assert volumes.min() >= 3.0 - 1e-9 and volumes.max() <= 500.0 + 1e-9
    assert 0.7 < np.mean(volumes < 50) < 0.95  # log-normal, median 18, sigma 1.1: ~0.8
    assert np.any(volumes > 100)  # some large lesions


def test_lesion_counts_decrease_cranio_caudally_and_some_subjects_are_free(demo_lesions):
    _, subjects, _ = demo_lesions
    counts = {region: sum(lesion.region == region for lesions in subjects for lesion in lesions)
              for region in REGIONS}
    assert counts["cervical"] > counts["thoracic"] > counts["lumbar"] > 0
    free = np.mean([len(lesions) == 0 for lesions in subjects])
    assert 0.15 < free < 0.4  # 0.2 drawn free, plus Poisson zeros


def test_lesions_lie_strictly_inside_the_cord(demo_lesions):
    _, subjects, anatomies = demo_lesions
    rng = np.random.default_rng(1)
    n_checked = 0
    for anatomy, lesions in zip(anatomies[:40], subjects[:40]):
        for lesion in lesions:
            # points on the ellipsoid's surface, each checked against the cord's ellipse at its own level
            u = rng.normal(size=(2000, 3))
            u /= np.linalg.norm(u, axis=1, keepdims=True)
            dx, dy = lesion.u0 + lesion.ru * u[:, 0], lesion.v0 + lesion.rv * u[:, 1]
            lr, ap = anatomy.cord_semi_axes(lesion.a0 + lesion.rz * u[:, 2])
            assert np.all((dx / lr) ** 2 + (dy / ap) ** 2 < 1.0)
            n_checked += 1
    assert n_checked > 20


def test_volume_sampler_respects_truncation():
    params = load_spec("demo")["lesions"]
    volumes = sample_volumes(params, 5000, np.random.default_rng(3))
    assert volumes.shape == (5000,)
    assert volumes.min() >= 3 and volumes.max() <= 500
    assert abs(np.median(volumes) - 18) < 3


def test_non_axial_orientation_is_an_input_error(repo_root, tmp_path):
    import yaml

    spec = yaml.safe_load((repo_root / "data_manifest" / "cohorts" / "smoke.yml").read_text())
    spec["acquisition_overrides"]["orientation"] = ["L", "S", "A"]  # slices would be coronal
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(InputError, match="S or I last"):
        load_spec(path)

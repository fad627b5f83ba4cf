"""sclesion.data.split: subject-level, deterministic 80/20 with seed 42, site rules, exclusions, file round trip."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from sclesion.cli.main import main
from sclesion.core.errors import InputError
from sclesion.data.split import (
    attach_split,
    ensure_split,
    make_split,
    n_test_subjects,
    read_exclusions,
    read_split,
    site_roles,
    subjects_table,
    write_split,
)

ROLES = {"train_only_sites": ("NYU",), "test_only_sites": ("BWH", "UCSF")}


def cohort(n_tum=20, n_nyu=5, n_bwh=4, n_ucsf=3) -> pd.DataFrame:
    """A subject table in shuffled order, as a dataset might list it."""
    rows = [(f"sub-{site.lower()}{i:03d}", site) for site, n in
            (("TUM", n_tum), ("NYU", n_nyu), ("BWH", n_bwh), ("UCSF", n_ucsf)) for i in range(1, n + 1)]
    table = pd.DataFrame(rows, columns=["participant_id", "site"])
    return table.sample(frac=1.0, random_state=3).reset_index(drop=True)


@pytest.mark.parametrize("n, n_test", [(317, 63), (10, 2), (5, 1), (3, 1), (2, 1), (1, 0), (0, 0), (13, 3)])
def test_number_of_test_subjects(n, n_test):
    # 317 -> 63 test / 254 train as in the paper (0.2 * 317 = 63.4); 13 -> 2.6 -> 3
    assert n_test_subjects(n) == n_test


def test_split_follows_site_rules_and_is_80_20_on_the_pool():
    split = make_split(cohort(), **ROLES)
    assert split["participant_id"].is_monotonic_increasing
    assert list(split.columns) == ["participant_id", "site", "split"]
    by_site = split.groupby(["site", "split"]).size().to_dict()
    assert by_site == {("BWH", "test"): 4, ("NYU", "train"): 5, ("TUM", "test"): 4, ("TUM", "train"): 16,
                       ("UCSF", "test"): 3}


def test_split_is_the_documented_permutation_with_seed_42():
    split = make_split(cohort(n_nyu=0, n_bwh=0, n_ucsf=0), **ROLES)
    ids = sorted(f"sub-tum{i:03d}" for i in range(1, 21))
    order = np.random.default_rng(42).permutation(20)
    expected_test = sorted(ids[i] for i in order[:4])
    assert sorted(split.loc[split["split"] == "test", "participant_id"]) == expected_test


def test_split_is_deterministic_and_independent_of_input_order():
    a = make_split(cohort(), **ROLES)
    shuffled = cohort().sample(frac=1.0, random_state=11)
    pd.testing.assert_frame_equal(a, make_split(shuffled, **ROLES))
    other_seed = make_split(cohort(), seed=7, **ROLES)
    assert not a["split"].equals(other_seed["split"])


def test_split_is_at_subject_level_for_an_image_table():
    images = pd.DataFrame(
        [(f"sub-tum{s:03d}", "TUM", ses, chunk) for s in range(1, 11) for ses in ("a", "b") for chunk in (1, 2, 3)],
        columns=["participant_id", "site", "session", "chunk"],
    )
    split = make_split(images, **ROLES)
    assert len(split) == 10 and split["participant_id"].is_unique
    with_split = attach_split(images, split)
    assert with_split.groupby("participant_id")["split"].nunique().max() == 1
    assert set(with_split.loc[with_split["split"] == "test", "participant_id"]).isdisjoint(
        with_split.loc[with_split["split"] == "train", "participant_id"]
    )
    assert (with_split["split"] == "test").sum() == 2 * 6


def test_exclusions_are_removed_before_splitting(tmp_path):
    path = tmp_path / "exclusions.tsv"
    path.write_text("# motion\nparticipant_id\treason\nsub-tum003\tsevere motion\nsub-bwh001\tno lesion mask\n"
                    "sub-zzz999\tnot in this dataset\n")
    excluded = read_exclusions(path)
    assert excluded["participant_id"].tolist() == ["sub-tum003", "sub-bwh001", "sub-zzz999"]
    split = make_split(cohort(), excluded["participant_id"], **ROLES)
    assert "sub-tum003" not in set(split["participant_id"]) and "sub-bwh001" not in set(split["participant_id"])
    assert len(split) == 32 - 2
    assert (split[split["site"] == "TUM"]["split"] == "test").sum() == 4  # round(0.2 * 19) = 4


def test_empty_exclusion_list_with_header_only_is_valid(tmp_path):
    path = tmp_path / "none.tsv"
    path.write_text("participant_id\treason\n")
    assert read_exclusions(path).empty


@pytest.mark.parametrize(
    "text, problem",
    [
        ("id\treason\n", "header must be 'participant_id<TAB>reason'"),
        ("participant_id\treason\nsub-a\t\n", "row 2 must be 'sub-<id><TAB><reason>'"),
        ("participant_id\treason\ntum001\tmotion\n", "row 2 must be"),
        ("participant_id\treason\nsub-a\tx\nsub-a\ty\n", "sub-a is listed twice"),
        ("", "header must be"),
    ],
)
def test_malformed_exclusion_lists_are_reported(tmp_path, text, problem):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=problem) as err:
        read_exclusions(path)
    assert str(err.value).startswith(str(path))


def test_split_file_round_trip_keeps_missing_sites(tmp_path):
    table = pd.DataFrame({"participant_id": ["sub-01", "sub-02", "sub-03"], "site": ["TUM", None, "NYU"]})
    split = make_split(table, **ROLES)
    path = write_split(split, tmp_path / "split.tsv")
    lines = path.read_text().splitlines()
    assert lines[0] == "participant_id\tsite\tsplit"
    assert lines[2].startswith("sub-02\tn/a\t") and lines[3] == "sub-03\tNYU\ttrain"
    assert sorted(split["split"][:2]) == ["test", "train"]  # a pool of 2 still gives one test subject
    back = read_split(path)
    assert back["split"].tolist() == split["split"].tolist()
    assert back["site"].isna().tolist() == [False, True, False]


def test_read_split_rejects_unknown_split(tmp_path):
    path = tmp_path / "split.tsv"
    path.write_text("participant_id\tsite\tsplit\nsub-a\tTUM\tval\n")
    with pytest.raises(InputError, match="split must be 'train' or 'test', found 'val'"):
        read_split(path)


def test_site_roles_from_yaml_files(tmp_path):
    (tmp_path / "nyu.yml").write_text("site: NYU\nsplit_role: train\n")
    (tmp_path / "bwh.yml").write_text("split_role: test\n")
    (tmp_path / "tum.yml").write_text("split_role: split\n")
    assert site_roles(tmp_path) == (("NYU",), ("BWH",))
    (tmp_path / "odd.yml").write_text("split_role: validation\n")
    with pytest.raises(InputError, match="odd.yml: split_role must be train, test or split"):
        site_roles(tmp_path)


def test_site_both_train_and_test_only_is_an_error():
    with pytest.raises(InputError, match="both train-only and test-only: NYU"):
        make_split(cohort(), train_only_sites=("NYU",), test_only_sites=("NYU",))


def test_subjects_table_has_one_row_per_subject():
    images = pd.DataFrame({"participant_id": ["sub-b", "sub-a", "sub-b"], "site": ["X", "Y", "X"]})
    assert subjects_table(images).values.tolist() == [["sub-a", "Y"], ["sub-b", "X"]]


def test_split_cli_writes_the_file(tmp_path, capsys):
    root = tmp_path / "bids"
    names = [f"sub-tum{i:03d}/ses-1/anat/sub-tum{i:03d}_ses-1_acq-ax_chunk-1_T2w.nii.gz" for i in range(1, 6)]
    for name in names + ["sub-ucsf001/anat/sub-ucsf001_acq-ax_T2w.nii.gz"]:
        (root / name).parent.mkdir(parents=True)
        nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4)), root / name)
    sites = "".join(f"sub-tum{i:03d}\tTUM\n" for i in range(1, 6)) + "sub-ucsf001\tUCSF\n"
    (root / "participants.tsv").write_text("participant_id\tsite\n" + sites)
    excl = tmp_path / "excl.tsv"
    excl.write_text("participant_id\treason\nsub-tum005\tartefact\n")
    out = tmp_path / "split.tsv"
    assert main(["split", str(root), "-o", str(out), "--exclusions", str(excl)]) == 0
    split = read_split(out)
    assert split["participant_id"].tolist() == [f"sub-tum{i:03d}" for i in range(1, 5)] + ["sub-ucsf001"]
    assert split["split"].value_counts().to_dict() == {"train": 3, "test": 2}
    assert "wrote" in capsys.readouterr().out
    out.write_text(out.read_text().replace("\ttrain", "\ttest"))  # a hand-made split is kept ...
    assert main(["split", str(root), "-o", str(out), "--exclusions", str(excl)]) == 0
    assert "kept (differs" in capsys.readouterr().out and set(read_split(out)["split"]) == {"test"}
    assert main(["split", str(root), "-o", str(out), "--exclusions", str(excl), "--force"]) == 0  # ... unless forced
    assert read_split(out)["split"].value_counts().to_dict() == {"train": 3, "test": 2}
    with pytest.raises(SystemExit) as refused:  # argparse's one-line usage error
        main(["split", str(root), "-o", str(out), "--test-fraction", "1.5", "--force"])
    assert refused.value.code == 2
    assert "argument --test-fraction: must be a finite number >= 0 and <= 1, got '1.5'" in capsys.readouterr().err


def test_site_yaml_without_split_role_gets_the_study_role(tmp_path):
    (tmp_path / "nyu.yml").write_text("site: NYU\n")
    (tmp_path / "ucsf.yml").write_text("site: UCSF\n")
    (tmp_path / "tum.yml").write_text("site: TUM\n")
    (tmp_path / "extra.yml").write_text("site: EXTRA\nsplit_role: test\n")
    assert site_roles(tmp_path) == (("NYU",), ("EXTRA", "UCSF"))


def test_repository_site_yamls_give_the_study_roles():
    train_only, test_only = site_roles()
    assert set(train_only) == {"NYU"} and set(test_only) == {"BWH", "UCSF"}


def small_bids(root, ids_sites):
    for pid, _ in ids_sites:
        path = root / pid / "anat" / f"{pid}_acq-ax_T2w.nii.gz"
        path.parent.mkdir(parents=True)
        nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4)), path)
    (root / "participants.tsv").write_text("participant_id\tsite\n" + "".join(f"{p}\t{s}\n" for p, s in ids_sites))
    return root


def test_ensure_split_writes_then_reproduces_then_keeps_a_hand_edited_file(tmp_path):
    root = small_bids(tmp_path / "bids", [(f"sub-tum{i}", "TUM") for i in range(1, 6)])
    path = tmp_path / "split.tsv"
    first, status = ensure_split(root, path)
    assert status == "written" and path.is_file()
    again, status = ensure_split(root, path)
    assert status == "reproduced"
    pd.testing.assert_frame_equal(first, again)
    edited = first.assign(split=["test"] * 5)
    write_split(edited, path)
    kept, status = ensure_split(root, path)
    assert status == "kept" and kept["split"].tolist() == ["test"] * 5


def test_ensure_split_rejects_a_file_for_another_dataset(tmp_path):
    root = small_bids(tmp_path / "bids", [("sub-tum1", "TUM"), ("sub-tum2", "TUM")])
    path = tmp_path / "split.tsv"
    path.write_text("participant_id\tsite\tsplit\nsub-tum1\tTUM\ttrain\nsub-other\tTUM\ttest\n")
    with pytest.raises(InputError, match=r"split.tsv: split file does not fit .*1 subject\(s\) not in the dataset"):
        ensure_split(root, path)


def contract_subjects(profile: str) -> pd.DataFrame:
    """The subjects of a synthetic cohort spec, named as in the data contract (sub-tum001, ...)."""
    import yaml

    from sclesion.core.paths import manifest_dir

    spec = yaml.safe_load((manifest_dir() / "cohorts" / f"{profile}.yml").read_text())
    rows = [(f"sub-{site.lower()}{i:03d}", site) for site, n in spec["sites"].items() for i in range(1, n + 1)]
    return pd.DataFrame(rows, columns=["participant_id", "site"])


@pytest.mark.parametrize("profile", ["demo", "smoke"])
def test_committed_split_is_what_the_code_regenerates(profile):
    from sclesion.core.paths import manifest_dir
    from sclesion.core.profile import Profile

    excluded = read_exclusions(manifest_dir() / "exclusions" / f"{profile}.tsv")["participant_id"]
    committed = read_split(manifest_dir() / "splits" / f"{profile}.tsv")
    fraction = Profile.load(profile).test_fraction
    pd.testing.assert_frame_equal(committed, make_split(contract_subjects(profile), excluded, test_fraction=fraction))


def test_committed_smoke_split_matches_the_smoke_cohort(smoke_bids):
    from sclesion.core.paths import manifest_dir
    from sclesion.data.split import split_dataset

    regenerated = split_dataset(smoke_bids, manifest_dir() / "exclusions" / "smoke.tsv")
    pd.testing.assert_frame_equal(read_split(manifest_dir() / "splits" / "smoke.tsv"), regenerated)
    assert set(regenerated.loc[regenerated["site"] == "TUM", "split"]) == {"train", "test"}

"""Profiles: one typed Profile read once, and a one-line refusal for every kind of bad profile."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sclesion.core.errors import InputError
from sclesion.core.conventions import STRAIGHT_FOV_HALF_WIDTH_MM
from sclesion.core.profile import PROFILE_KEYS, Profile, profile_path
from sclesion.core.yamlfile import read_mapping
from sclesion.nnunet.settings import NnunetSettings


@pytest.mark.parametrize("name", ["demo", "smoke", "paper"])
def test_every_shipped_profile_loads_into_typed_fields(name):
    profile = Profile.load(name)
    raw = read_mapping(profile_path(name))
    assert profile.name == name and profile.source == profile_path(name)
    assert isinstance(profile.synthetic, bool) and profile.synthetic == raw["synthetic"]
    assert profile.bids_root == Path(raw["bids_root"]) and profile.work_dir == Path(raw["work_dir"])
    assert profile.n_jobs == raw["n_jobs"] >= 1 and profile.seed == raw["seed"]
    assert profile.exclusions == Path(raw["exclusions"]) and profile.split_tsv == Path(raw["split_tsv"])
    assert profile.fov_mm == STRAIGHT_FOV_HALF_WIDTH_MM and profile.notebook_timeout_s == raw["notebook_timeout_s"]
    assert isinstance(profile.nnunet, NnunetSettings) and profile.nnunet.epochs == raw["nnunet_epochs"]


def test_a_profile_is_frozen():
    profile = Profile.load("smoke")
    with pytest.raises(AttributeError):
        profile.n_jobs = 4  # type: ignore[misc]


def test_parameters_are_plain_values_for_papermill():
    params = Profile.load("smoke").parameters()
    assert params["profile"] == "smoke" and params["bids_root"] == "_data/smoke/bids"
    assert set(params) == set(PROFILE_KEYS)
    for value in params.values():
        assert isinstance(value, (str, int, float, bool)), value


def test_overrides_replace_values_and_are_checked():
    profile = Profile.load("smoke", {"bids_root": "/data/bids", "n_jobs": 3})
    assert profile.bids_root == Path("/data/bids") and profile.n_jobs == 3
    with pytest.raises(InputError, match="n_jobs must be int"):
        Profile.load("smoke", {"n_jobs": "three"})


def test_optional_keys_take_their_defaults(tmp_path):
    path = tmp_path / "mine.yml"
    path.write_text("profile: mine\nsynthetic: false\nbids_root: /data/bids\nwork_dir: /scratch\n")
    profile = Profile.load(path)
    assert (profile.n_jobs, profile.seed, profile.exclusions, profile.split_tsv) == (1, 42, None, None)
    assert profile.nnunet is None and profile.fov_mm == STRAIGHT_FOV_HALF_WIDTH_MM
    assert profile.parameters()["exclusions"] == ""


def _write(tmp_path, **changes):
    values = read_mapping(profile_path("smoke"))
    for key, value in changes.items():
        if value is None:
            values.pop(key)
        else:
            values[key] = value
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.mark.parametrize("changes, message", [
    ({"bids_root": None}, "missing required key.*bids_root"),
    ({"synthetic": None, "work_dir": None}, "missing required key.*synthetic, work_dir"),
    ({"bids_rot": "x"}, "unknown key.*bids_rot"),
    ({"n_jobs": "2"}, "n_jobs must be int, got '2'"),
    ({"n_jobs": True}, "n_jobs must be int, got True"),
    ({"synthetic": "yes please"}, "synthetic must be bool"),
    ({"fov_mm": "wide"}, "fov_mm must be int or float"),
    ({"fov_mm": -1.0}, "fov_mm must be > 0"),
    ({"notebook_timeout_s": 0}, "notebook_timeout_s must be > 0"),
    ({"exclusions": 3}, "exclusions must be str or null"),
    ({"nnunet_epoch": 3}, "unknown profile key.*nnunet_epoch"),
    ({"nnunet_folds": [0, 5]}, "must lie in 0..1"),
    ({"nnunet_epochs": "ten"}, "nnunet_epochs must be int or dict, got 'ten'"),
    ({"nnunet_learning_rate": "fast"}, "nnunet_learning_rate must be int or float or dict"),
    ({"nnunet_validate": 1}, "nnunet_validate must be bool, got 1"),
    ({"nnunet_threads": 2.5}, "nnunet_threads must be int"),
])
def test_bad_profiles_are_refused_in_one_line_naming_the_file(tmp_path, changes, message):
    path = _write(tmp_path, **changes)
    with pytest.raises(InputError, match=message) as exc:
        Profile.load(path)
    assert "bad.yml" in str(exc.value) and "\n" not in str(exc.value)


def test_profile_that_is_not_a_mapping_is_refused(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(InputError, match="expected a YAML mapping"):
        Profile.load(bad)


def test_unknown_profile_name_lists_the_known_ones():
    with pytest.raises(InputError, match="known profiles: demo, paper, smoke"):
        Profile.load("nope")

"""Profiles: the shared keys and refusals."""

from __future__ import annotations

import pytest

from sclesion.core.errors import InputError
from sclesion.core.profile import load_profile


@pytest.mark.parametrize("name", ["demo", "smoke", "paper"])
def test_profiles_declare_the_shared_keys(name):
    params = load_profile(name)
    assert params["profile"] == name
    for key in ("bids_root", "work_dir", "synthetic", "seed", "n_jobs"):
        assert key in params


def test_profile_that_is_not_a_mapping_is_refused(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(InputError, match="expected a YAML mapping"):
        load_profile(bad)

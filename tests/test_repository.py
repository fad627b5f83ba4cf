"""What a research repository carries: a license for the code, and a valid citation file."""

from __future__ import annotations

import datetime

import yaml


def test_code_license_is_mit_and_matches_the_package_metadata(repo_root):
    text = (repo_root / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 The sclesion contributors" in text
    assert 'license = "MIT"' in (repo_root / "pyproject.toml").read_text()


def test_citation_file_is_valid_cff_citing_the_software_and_the_study(repo_root):
    cff = yaml.safe_load((repo_root / "CITATION.cff").read_text())
    # the keys CFF 1.2.0 requires of the file and of every reference
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):
        assert cff[key], key
    assert cff["type"] == "software" and cff["license"] == "MIT"
    version = [line.split('"')[1] for line in (repo_root / "pyproject.toml").read_text().splitlines()
               if line.startswith("version = ")]
    assert str(cff["version"]) == version[0]
    datetime.date.fromisoformat(str(cff["date-released"]))
    study = cff["preferred-citation"]
    for key in ("type", "title", "authors"):
        assert study[key], key
    assert study["type"] == "article" and isinstance(study["year"], int)
    for person in [*cff["authors"], *study["authors"]]:
        assert person.get("name") or (person.get("family-names") and person.get("given-names")), person


def test_paper_tables_carry_their_license_and_citation(repo_root):
    note = (repo_root / "data_manifest" / "paper" / "README.md").read_text()
    assert "CC BY 4.0" in note and "CITATION.cff" in note
    assert "License and data" in (repo_root / "README.md").read_text()

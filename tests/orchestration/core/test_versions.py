from __future__ import annotations

import pytest

from orchestration.core.exceptions import ValidationError
from orchestration.core.versions import parse_constraint, parse_version, satisfies


def test_versions_compare_as_versions_not_strings() -> None:
    assert parse_version("10.0") > parse_version("9.0")
    assert parse_version("2.10.0") > parse_version("2.9.1")
    assert satisfies("10.0", ">9.0")
    assert not satisfies("9.0", ">=10")


@pytest.mark.parametrize(
    ("version", "normalised"),
    [
        ("2.1.0", "2.1.0"),
        ("1.0.0-rc1", "1.0.0rc1"),
        ("1.0.0-alpha.2", "1.0.0a2"),
        ("2.0.0+build.7", "2.0.0+build.7"),
        ("v2.0", "2.0"),
        ("1.0.0-snapshot", "1.0.0.dev0+snapshot"),
    ],
)
def test_semver_style_versions_are_normalised_to_pep_440(version: str, normalised: str) -> None:
    assert str(parse_version(version)) == normalised


def test_a_semver_pre_release_sorts_before_its_release() -> None:
    assert parse_version("1.0.0-rc1") < parse_version("1.0.0")
    assert parse_version("1.0.0-snapshot") < parse_version("1.0.0")


@pytest.mark.parametrize(
    ("constraint", "matching", "not_matching"),
    [
        (">=2.0,<3", ["2.0", "2.1.0", "2.99"], ["1.9.9", "3.0.0", "10.0"]),
        ("==2.1.*", ["2.1.0", "2.1.17"], ["2.2.0", "2.10.0"]),
        ("~=2.1", ["2.1", "2.9.3"], ["3.0", "2.0.9"]),
        ("2.1.0", ["2.1.0", "2.1"], ["2.1.1"]),
        (">= 2.0 , != 2.0.3", ["2.0.2", "2.0.4"], ["2.0.3"]),
    ],
)
def test_constraints_select_versions(
    constraint: str, matching: list[str], not_matching: list[str]
) -> None:
    parsed = parse_constraint(constraint)

    assert [v for v in matching if parsed.allows(v)] == matching
    assert [v for v in not_matching if parsed.allows(v)] == []


def test_pre_releases_match_only_a_constraint_that_names_one() -> None:
    assert not satisfies("2.1.0-rc1", ">=2.0")
    assert satisfies("2.1.0-rc1", ">=2.1.0-rc1")
    assert satisfies("2.1.0", ">=2.1.0-rc1")


def test_no_constraint_matches_every_version() -> None:
    assert satisfies("0.0.1-dev", None)


@pytest.mark.parametrize("constraint", ["", "  ", "latest", "^1.2", "~1.2", ">=", ">=2.0,<x"])
def test_an_invalid_constraint_names_the_version_constraint_field(constraint: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_constraint(constraint)

    assert caught.value.errors[0]["field"] == "version_constraint"
    assert "version_constraint" in str(caught.value)


def test_an_unparsable_version_names_the_version_field_and_matches_nothing() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_version("latest")

    assert caught.value.errors[0]["field"] == "version"
    assert not parse_constraint(">=0").allows("latest")

"""The README and docs/ link only to files a clone has, and name settings the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestration.testing.database import POSTGRES_URL_ENV

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(page: Path) -> list[str]:
    return [
        target.split("#", 1)[0]
        for target in LINK.findall(page.read_text())
        if not re.match(r"[a-z]+:", target) and not target.startswith("#")
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_resolves_inside_the_clone(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        resolved = (page.parent / target).resolve()
        if not resolved.exists() or not resolved.is_relative_to(ROOT):
            broken.append(target)
    assert broken == [], f"{page.name} links to what a clone does not have: {broken}"


def test_the_readme_says_how_make_test_finds_postgres() -> None:
    first_lines = "\n".join((ROOT / "README.md").read_text().splitlines()[:30])
    assert "127.0.0.1:5432" in first_lines
    assert POSTGRES_URL_ENV in first_lines

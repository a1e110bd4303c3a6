"""The README and docs/ link only to files a clone has, and name settings the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestration.testing.database import POSTGRES_URL_ENV

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
QUOTED_PAGE = re.compile(r"`([\w./-]+\.md)`")
"""A page named in code quotes, as in "see `docs/deployment.md`"."""


def relative_links(page: Path) -> list[str]:
    text = page.read_text()
    return [
        target.split("#", 1)[0]
        for target in LINK.findall(text)
        if not re.match(r"[a-z]+:", target) and not target.startswith("#")
    ] + QUOTED_PAGE.findall(text)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_resolves_inside_the_clone(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        candidates = [(base / target).resolve() for base in (page.parent, ROOT)]
        if not any(c.exists() and c.is_relative_to(ROOT) for c in candidates):
            broken.append(target)
    assert broken == [], f"{page.name} links to what a clone does not have: {broken}"


def test_the_readme_says_how_make_test_finds_postgres() -> None:
    first_lines = "\n".join((ROOT / "README.md").read_text().splitlines()[:30])
    assert "127.0.0.1:5432" in first_lines
    assert POSTGRES_URL_ENV in first_lines

"""The layers of docs/architecture.md hold: the import contracts in pyproject.toml pass, and
they fail when a module imports a layer above its own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("orchestration", "bus", "registry", "workflows", "activities", "swarm", "workers")
ROOF = (
    "orchestration.cli",
    "orchestration.clients",
    "orchestration.stack",
    "orchestration.testing",
)


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=cwd, env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_back_import_inside_a_function_breaks_the_layers(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    dispatch = tmp_path / "workflows" / "dispatch.py"
    dispatch.write_text(
        dispatch.read_text() + "\n\ndef _probe() -> None:\n    from activities import agent\n"
    )

    result = lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "workflows is not allowed to import activities" in result.stdout
    assert "workflows.dispatch -> activities.agent" in result.stdout


def test_only_the_roof_imports_the_facade() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    importers = graph.find_modules_that_directly_import("orchestration")
    below = sorted(m for m in importers if not m.startswith(ROOF))
    assert below == [], f"{below} import the orchestration facade: import its module instead"

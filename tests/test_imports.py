"""Every module imports on its own, first: no circular import hides behind import order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("orchestration", "bus", "registry", "workflows", "activities", "swarm", "workers")

# Imports each module with every one of our packages' modules cleared from sys.modules
# first, in one interpreter (third-party imports stay cached, so it is quick). The default
# Prometheus registry is emptied too (a private attribute, acceptable in a test).
SCRIPT = """
import importlib, sys
from prometheus_client import REGISTRY
packages = {packages!r}
failures = []
for name in {modules!r}:
    for loaded in [m for m in sys.modules if m.split(".")[0] in packages]:
        del sys.modules[loaded]
    # Our metric modules register on import: start each import from an empty registry.
    for collector in list(REGISTRY._collector_to_names):
        REGISTRY.unregister(collector)
    try:
        importlib.import_module(name)
    except Exception as exc:
        failures.append(f"{{name}}: {{type(exc).__name__}}: {{exc}}")
print("\\n".join(failures))
sys.exit(1 if failures else 0)
"""


def modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "alembic" in path.parts:
                continue  # migration scripts run inside Alembic, not as imports
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def test_every_module_imports_first_without_a_cycle() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(packages=PACKAGES, modules=modules())],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr

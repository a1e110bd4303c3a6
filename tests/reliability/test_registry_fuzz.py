"""The registry's HTTP API fuzzed from its own OpenAPI schema (schemathesis), against the real
service in a subprocess: no 5xx, and every response matches the schema it documents."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from orchestration.testing.ports import free_port
from tests.reliability.figures import Figures
from tests.reliability.scale import scaled
from tests.reliability.service import service_env

TOKEN = "fuzz-token-" + "x" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def service_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "service.log"


@pytest.fixture(scope="module")
def service_url(service_log: Path) -> Iterator[str]:
    port = free_port()
    env = service_env(port, service_log.parent, REGISTRY_TOKEN=TOKEN, LOG_LEVEL="INFO")
    log = service_log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "registry", "serve"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            assert process.poll() is None, "the registry service exited"
            assert time.monotonic() < deadline, "the registry service never became healthy"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_no_5xx_and_every_response_matches_the_schema(
    service_url: str, reliability_figures: Figures
) -> None:
    schema = schemathesis.openapi.from_url(f"{service_url}/openapi.json", headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12  # every endpoint of the service, /metrics included
    tried: list[str] = []
    for operation in operations:
        fuzz_operation(operation, tried)
    reliability_figures.record(
        "registry API fuzzed from its OpenAPI schema",
        trials=len(tried),
        faults=len(tried),
        note=f"{len(operations)} operations; no 5xx, no schema violation",
    )
    print(f"{len(tried)} requests over {len(operations)} operations")


def fuzz_operation(operation: Any, tried: list[str]) -> None:
    """Up to 25 generated requests: no 5xx, declared status codes, content types, headers
    and bodies that match the schema, and schema-invalid requests refused. Not checked:
    that every schema-valid body is accepted, since a version must also parse as PEP 440 and
    an endpoint as a URL, which the schema documents in words only (they get a 422 naming the
    field)."""

    @settings(max_examples=scaled(25), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=operation.as_strategy())
    def fuzz(case: schemathesis.Case) -> None:
        tried.append(operation.label)
        case.call_and_validate(headers=AUTH, excluded_checks=[checks.positive_data_acceptance])

    fuzz()


def test_without_the_token_every_endpoint_but_health_refuses(
    service_url: str, reliability_figures: Figures
) -> None:
    spec = httpx.get(f"{service_url}/openapi.json", headers=AUTH, timeout=10).json()
    routes = [(path, method) for path, operations in spec["paths"].items() for method in operations]
    reliability_figures.record(
        "registry requests without the token", trials=len(routes), faults=len(routes),
        note="every route but /health must answer 401",
    )  # fmt: skip
    for path, operations in spec["paths"].items():
        for method in operations:
            concrete = path.replace("{agent_id}", "calc-1").replace("{name}", "rule-1")
            answer = httpx.request(method.upper(), f"{service_url}{concrete}", timeout=10)
            if path == "/health":
                assert answer.status_code == 200
            else:
                assert answer.status_code == 401, (method, path, answer.status_code)
                assert TOKEN not in answer.text


def test_the_token_never_appears_in_the_service_log(service_url: str, service_log: Path) -> None:
    """Last in this module: the log holds everything the fuzzing and refusals above caused."""
    httpx.get(f"{service_url}/agents", headers={"Authorization": "Bearer wrong-token"}, timeout=10)
    text = service_log.read_text(encoding="utf-8", errors="replace")
    assert text, "the service logged nothing"
    assert TOKEN not in text and "wrong-token" not in text

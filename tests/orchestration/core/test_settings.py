from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from orchestration.core.settings import SagaConfig, Settings, SwarmConfig, get_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ORCH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(Path(__file__).parent)  # no stray .env file
    get_settings.cache_clear()


def test_defaults_are_the_embedded_stack() -> None:
    settings = Settings()
    assert settings.temporal.address == "localhost:7233"
    assert settings.kafka.bootstrap_servers == ["localhost:9092"]
    assert settings.task_queue == "orchestration"
    assert settings.metrics_port == 8080
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith(".orchestration/registry.db")
    assert settings.temporal.starts_embedded and settings.kafka.starts_embedded


def test_environment_variables_fill_the_typed_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_TEMPORAL_ADDRESS", "temporal.prod:7233")
    monkeypatch.setenv("ORCH_TEMPORAL_NAMESPACE", "climate")
    monkeypatch.setenv("ORCH_KAFKA_BOOTSTRAP_SERVERS", "k1:9092, k2:9093")
    monkeypatch.setenv("ORCH_KAFKA_PARTITIONS", "100")
    monkeypatch.setenv("ORCH_DATABASE_URL", "postgresql+asyncpg://orch@db:5432/orch")
    monkeypatch.setenv("ORCH_STATE_DIR", "/var/lib/orch")
    monkeypatch.setenv("ORCH_TASK_QUEUE", "orch-prod")
    monkeypatch.setenv("ORCH_METRICS_PORT", "9100")
    monkeypatch.setenv("ORCH_SAGA_DEFAULT_TIMEOUT_MS", "1000")
    settings = get_settings()
    assert settings.temporal.namespace == "climate"
    assert settings.kafka.bootstrap_servers == ["k1:9092", "k2:9093"]
    assert settings.kafka.partitions == 100
    assert settings.database_url == "postgresql+asyncpg://orch@db:5432/orch"
    assert settings.state_dir == Path("/var/lib/orch")
    assert settings.task_queue == "orch-prod"
    assert settings.metrics_port == 9100
    assert settings.saga.default_timeout_ms == 1000
    # Remote servers are never started by `orchestration up`.
    assert not settings.temporal.starts_embedded
    assert not settings.kafka.starts_embedded


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("ORCH_METRICS_PORT", "70000", "metrics_port"),
        ("ORCH_TEMPORAL_ADDRESS", "localhost:notaport", "address"),
        ("ORCH_KAFKA_PARTITIONS", "0", "partitions"),
        ("ORCH_DATABASE_URL", "mysql://x", "url"),
    ],
)
def test_a_bad_value_is_rejected_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(pydantic.ValidationError) as info:
        Settings()
    assert field in str(info.value)


def test_embedded_can_be_forced_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_TEMPORAL_EMBEDDED", "false")
    monkeypatch.setenv("ORCH_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    settings = Settings()
    assert not settings.temporal.starts_embedded
    assert settings.kafka.starts_embedded and settings.kafka.port == 19092


def test_saga_history_cannot_be_turned_off() -> None:
    with pytest.raises(pydantic.ValidationError, match="history"):
        SagaConfig(enable_persistence=False)


def test_swarm_bounds_must_be_ordered() -> None:
    with pytest.raises(pydantic.ValidationError, match="min_agents"):
        SwarmConfig(min_agents=20, max_agents=10)

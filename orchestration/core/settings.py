"""Settings, read from ``ORCH_*`` environment variables (and a ``.env`` file if present).

Sections are typed models: ``ORCH_KAFKA_BOOTSTRAP_SERVERS`` sets
``settings.kafka.bootstrap_servers``, ``ORCH_TEMPORAL_ADDRESS`` sets
``settings.temporal.address``, ``ORCH_DATABASE_URL`` sets ``settings.database.url``.
Top-level fields (``ORCH_STATE_DIR``, ``ORCH_TASK_QUEUE``, ``ORCH_METRICS_PORT``) are read
by their full name. The sections that say where services are live in
:mod:`orchestration.core.connections`; the saga and swarm defaults are here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from orchestration.core.connections import (
    DatabaseConfig,
    KafkaConfig,
    Port,
    RegistryConfig,
    TemporalConfig,
    comma_list,
)
from orchestration.core.retry import MAX_TIMEOUT_MS, MIN_TIMEOUT_MS, RetrySpec

__all__ = [
    "BridgeSettings",
    "RouteConfig",
    "SagaConfig",
    "Settings",
    "SwarmConfig",
    "get_settings",
]


class SagaConfig(BaseModel):
    """Saga defaults (``ORCH_SAGA_*``).

    Persistence and event sourcing are Temporal's workflow history, which is always on;
    the two flags exist for compatibility with the quick reference and must stay true.
    """

    model_config = ConfigDict(use_attribute_docstrings=True)

    enable_persistence: bool = True
    """Always true: a saga's history is Temporal's persistent event log."""
    enable_event_sourcing: bool = True
    """Always true: a saga's state is rebuilt from its history (replay)."""
    default_timeout_ms: int = Field(default=300_000, ge=MIN_TIMEOUT_MS, le=30 * 24 * 3600 * 1000)
    """Overall deadline of a saga that sets no ``timeout_ms``."""
    step_timeout_ms: int = Field(default=60_000, ge=MIN_TIMEOUT_MS, le=MAX_TIMEOUT_MS)
    """Start-to-close timeout of one attempt of a step that sets no ``timeout_ms``."""
    step_start_timeout_ms: int = Field(default=180_000, ge=MIN_TIMEOUT_MS, le=MAX_TIMEOUT_MS)
    """How long a step's call waits for a worker of its agent to pick it up; past it the step
    fails with "no worker polls task queue X (agent X)" (the agent is down or its id is
    wrong) instead of waiting for the saga's timeout. Compensations wait for their agent."""
    compensation_timeout_ms: int = Field(default=60_000, ge=MIN_TIMEOUT_MS, le=MAX_TIMEOUT_MS)
    """Start-to-close timeout of one attempt of a compensation."""
    compensation_retry: RetrySpec = Field(
        default_factory=lambda: RetrySpec(maximum_attempts=5, maximum_interval_ms=30_000)
    )
    """Retries of a failed compensation (5 attempts, backoff up to 30 s by default) before the
    saga parks in NEEDS_INTERVENTION for an operator (``saga resolve``)."""
    forward_recovery_attempts: int = Field(default=2, ge=0, le=100)
    """FORWARD strategy: how many more times a failed step is dispatched before compensating."""

    @model_validator(mode="after")
    def _history_is_always_on(self) -> SagaConfig:
        if not (self.enable_persistence and self.enable_event_sourcing):
            raise ValueError(
                "sagas are Temporal workflows: their history is the persistent event log and "
                "cannot be turned off (leave enable_persistence and enable_event_sourcing true)"
            )
        return self


class RouteConfig(BaseModel):
    """Calls routed by capability (``ORCH_ROUTE_*``): saga steps that name a ``capability``
    instead of an ``agent_id``; the client that starts the saga sends its values along."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    start_timeout_ms: int = Field(default=30_000, ge=MIN_TIMEOUT_MS, le=MAX_TIMEOUT_MS)
    """How long the chosen agent has to pick the call up; past it the call is routed again
    without that agent (it is down, or stuck)."""
    attempts: int = Field(default=2, ge=1, le=100)
    """Attempts on one chosen agent that fail with retryable errors before the call is
    routed again without it (never more than the step's own retry policy allows)."""
    min_health: float = Field(default=0.5, ge=0.0, le=1.0)
    """The lowest registry health score (0..1) of an agent a call is routed to."""
    wait_ms: int = Field(default=300_000, ge=MIN_TIMEOUT_MS, le=MAX_TIMEOUT_MS)
    """How long a routed call waits for a qualifying agent to appear (the registry is asked
    again, with backoff up to 10 s) before it fails with RoutingError."""


class SwarmConfig(BaseModel):
    """Swarm pool bounds and behaviour tuning.

    The one source of the tuning defaults: ``swarm.scheduling.PolicyConfig`` takes its own
    from here, and a swarm's input carries ``policy_tuning()``.
    """

    min_agents: int = Field(default=10, ge=1, description="Fewest agents a swarm task may require.")
    max_agents: int = Field(default=1000, ge=1, description="Most agents a swarm task may require.")
    neighbor_radius: float = Field(
        default=5.0,
        gt=0,
        description="FLOCKING: agents closer than this in feature space are neighbours.",
    )
    pheromone_evaporation_rate: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="FORAGING: fraction of pheromone lost per observation.",
    )
    scout_fraction: float = Field(default=0.1, ge=0, le=1, description="FORAGING exploration.")
    load_cap: float = Field(default=1.25, ge=1, le=10, description="CLUSTERING load cap.")
    migration_margin: float = Field(
        default=0.2, ge=0, le=10, description="MIGRATING: gain needed to move queued work."
    )
    straggler_factor: float = Field(
        default=2.0, ge=1, le=100, description="SWARMING: x expected duration = straggler."
    )
    max_backups: int = Field(default=1, ge=0, le=10, description="SWARMING: copies per partition.")

    def policy_tuning(self) -> dict[str, float]:
        """The behaviour tuning (every field but the pool bounds), as ``PolicyConfig`` takes it."""
        return self.model_dump(exclude={"min_agents", "max_agents"})

    @model_validator(mode="after")
    def _bounds(self) -> SwarmConfig:
        if self.min_agents > self.max_agents:
            raise ValueError(
                f"min_agents ({self.min_agents}) is larger than max_agents ({self.max_agents})"
            )
        return self


class BridgeSettings(BaseModel):
    """The Kafka → Temporal bridge (``orchestration bridge``; part of ``up`` when configured)."""

    config: Path | None = Field(
        default=None,
        description="YAML or JSON file of bridge routes (see bus/bridge_config.py); unset: "
        "no bridge.",
    )
    metrics_port: Port = Field(default=8082, description="/metrics of the bridge process.")


class Settings(BaseSettings):
    """All settings. Build one with ``get_settings()``; tests pass overrides as keywords."""

    model_config = SettingsConfigDict(
        env_prefix="ORCH_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_file=".env",
        extra="ignore",
    )

    state_dir: Path = Field(
        default=Path(".orchestration"),
        description="Data and logs of the embedded stack (the SQLite registry, Temporal's "
        "database, process logs).",
    )
    worker_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Modules the orchestration worker imports at start (comma-separated), "
        "e.g. where pipeline transforms are registered.",
    )

    @field_validator("worker_modules", mode="before")
    @classmethod
    def _split_modules(cls, value: Any) -> Any:
        return comma_list(value)

    task_queue: str = Field(
        default="orchestration",
        min_length=1,
        max_length=200,
        description="Temporal task queue of the orchestration worker.",
    )
    metrics_port: Port = Field(default=8080, description="/metrics of the orchestration worker.")
    pending_actions_interval_s: float = Field(
        default=15.0,
        ge=0.1,
        le=3600,
        description="How often the orchestration worker counts the sagas waiting for a person "
        "(saga_pending_actions), from Temporal's visibility store.",
    )
    agent_register: bool = Field(
        default=True,
        description="A running agent registers itself with the registry service "
        "(ORCH_REGISTRY_URL, else the local one of `orchestration up`) and heartbeats every "
        "ORCH_REGISTRY_HEARTBEAT_INTERVAL_S; it works on while the registry is unreachable.",
    )
    agent_metrics_port: Port | None = Field(
        default=None,
        description="/metrics of an agent process (`orchestration agent`); unset: off.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address /metrics binds to; 0.0.0.0 in containers."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of the `orchestration` commands."
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Log lines of the `orchestration` commands: text, or one JSON object a "
        "line with trace_id and span_id (the trace a line belongs to, when tracing is on).",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+.*$",
        description="The S3-compatible object store of s3:// datasets and manifests that name "
        "no endpoint_url (e.g. http://127.0.0.1:9000); unset: AWS S3. Credentials come from "
        "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the region from AWS_DEFAULT_REGION.",
    )
    temporal: TemporalConfig = Field(default_factory=TemporalConfig)
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    saga: SagaConfig = Field(default_factory=SagaConfig)
    route: RouteConfig = Field(default_factory=RouteConfig)
    swarm: SwarmConfig = Field(default_factory=SwarmConfig)
    bridge: BridgeSettings = Field(default_factory=BridgeSettings)

    @property
    def database_url(self) -> str:
        """The effective database URL (the SQLite default lives in the state directory)."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.state_dir / 'registry.db').resolve()}"

    @property
    def temporal_db_file(self) -> Path:
        """The embedded dev server's SQLite file: workflows survive a restart of the stack."""
        return self.state_dir / "temporal.db"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings. Tests reset them with ``get_settings.cache_clear()``."""
    return Settings()

"""Settings, read from ``ORCH_*`` environment variables (and a ``.env`` file if present).

Sections are typed models: ``ORCH_KAFKA_BOOTSTRAP_SERVERS`` sets
``settings.kafka.bootstrap_servers``, ``ORCH_TEMPORAL_ADDRESS`` sets
``settings.temporal.address``, ``ORCH_DATABASE_URL`` sets ``settings.database.url``.
Top-level fields (``ORCH_STATE_DIR``, ``ORCH_TASK_QUEUE``, ``ORCH_METRICS_PORT``) are read
by their full name.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from orchestration.core.network import is_loopback, local_url, split_host_port, url_host
from orchestration.core.retry import MAX_TIMEOUT_MS, MIN_TIMEOUT_MS, RetrySpec

__all__ = [
    "DatabaseConfig",
    "KafkaConfig",
    "RegistryConfig",
    "SagaConfig",
    "Settings",
    "SwarmConfig",
    "TemporalConfig",
    "get_settings",
]

Port = Annotated[int, Field(ge=1, le=65535)]


def comma_list(value: Any) -> Any:
    """A comma-separated string from the environment as a list of its non-empty parts."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class TemporalConfig(BaseModel):
    """Where the Temporal frontend is, and how the embedded dev server runs."""

    address: str = Field(
        default="localhost:7233",
        description="host:port of the Temporal frontend (gRPC).",
    )
    namespace: str = Field(
        default="default", min_length=1, description="Temporal namespace for workflows."
    )
    ui_port: Port = Field(default=8233, description="Web UI port of the embedded dev server.")
    ui_url: str | None = Field(
        default=None,
        description="Where users open the Temporal Web UI, for the links the CLI prints "
        "(e.g. http://temporal-ui.example.com); unset: http://<Temporal host>:<ui_port>.",
    )
    metrics_port: Port | None = Field(
        default=None,
        description="Serve the Temporal SDK's own metrics (worker polls, task latencies) "
        "of the worker, agent and bridge processes on this port (the SDK runtime's "
        "Prometheus exporter, on ORCH_METRICS_HOST); unset: off.",
    )
    embedded: bool | None = Field(
        default=None,
        description="Start the dev server in `orchestration up`. Default: only when the "
        "address is on this machine.",
    )

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        split_host_port(value, default_port=7233)
        return value

    @property
    def host(self) -> str:
        return split_host_port(self.address, default_port=7233)[0]

    @property
    def port(self) -> int:
        return split_host_port(self.address, default_port=7233)[1]

    @property
    def starts_embedded(self) -> bool:
        return self.embedded if self.embedded is not None else is_loopback(self.host)

    def web_ui(self, workflow_id: str | None = None) -> str:
        """The Web UI's page of ``workflow_id`` (or of the namespace's workflow list)."""
        base = (self.ui_url or f"http://{url_host(self.host)}:{self.ui_port}").rstrip("/")
        page = f"{base}/namespaces/{quote(self.namespace, safe='')}/workflows"
        return f"{page}/{quote(workflow_id, safe='')}" if workflow_id else page


class KafkaConfig(BaseModel):
    """The Kafka cluster (or the embedded Tansu broker) the bus talks to."""

    bootstrap_servers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["localhost:9092"],
        min_length=1,
        description="Kafka brokers, host:port each.",
    )
    partitions: int = Field(
        default=3, ge=1, le=10_000, description="Partitions of each topic the bus creates."
    )
    replication_factor: int = Field(
        default=1, ge=1, le=15, description="Replicas of each topic the bus creates."
    )
    compression_type: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        default="none",
        description="Producer compression, also set on the topics the bus creates.",
    )
    client_id: str = Field(
        default="greenlang-orchestration",
        description="Kafka client id; also the prefix of consumer group ids.",
    )
    embedded: bool | None = Field(
        default=None,
        description="Start the Tansu broker in `orchestration up`. Default: only when the "
        "single bootstrap server is on this machine.",
    )
    idempotent: bool | None = Field(
        default=None,
        description="Idempotent producer (no duplicates from producer retries). Default: on, "
        "except against the embedded Tansu broker, whose memory storage refuses it.",
    )
    linger_ms: int = Field(default=0, ge=0, le=10_000, description="Producer batching delay.")
    max_batch_bytes: int = Field(
        default=262_144,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest producer batch per partition (aiokafka's max_batch_size); a "
        "larger record gets a batch of its own.",
    )
    default_topic: str = Field(
        default="agent.messages",
        pattern=r"^[A-Za-z0-9._\-]{1,200}$",
        description="Where publish() sends a message that names no recipient and no topic.",
    )
    dedup_window: int = Field(
        default=10_000,
        ge=0,
        le=10_000_000,
        description="Message ids each consumer remembers to drop duplicates (0: off).",
    )
    max_delivery_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Times a served handler may fail on a message before it is dead-lettered.",
    )
    dead_letter_expired: bool = Field(
        default=True, description="Send expired messages to the dead-letter topic."
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="Where a new consumer group starts: earliest loses nothing published "
        "before it joined.",
    )
    request_timeout_ms: int = Field(
        default=30_000, ge=100, le=600_000, description="Kafka request timeout."
    )
    fetch_max_wait_ms: int | None = Field(
        default=None,
        ge=1,
        le=60_000,
        description="How long a consumer's fetch waits for data. Default: 500 (Kafka answers "
        "at once when data arrives); 5 against the embedded Tansu broker, which answers a "
        "fetch of several partitions only when this wait ends.",
    )
    session_timeout_ms: int | None = Field(
        default=None,
        ge=1000,
        le=3_600_000,
        description="Consumer group session timeout. Default: 10000; 2000 against the "
        "embedded broker, where a group join takes half of it.",
    )

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _split_servers(cls, value: Any) -> Any:
        return comma_list(value)

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_servers(cls, value: list[str]) -> list[str]:
        for server in value:
            split_host_port(server, default_port=9092)
        return value

    @property
    def host(self) -> str:
        return split_host_port(self.bootstrap_servers[0], default_port=9092)[0]

    @property
    def port(self) -> int:
        return split_host_port(self.bootstrap_servers[0], default_port=9092)[1]

    @property
    def starts_embedded(self) -> bool:
        if self.embedded is not None:
            return self.embedded
        return len(self.bootstrap_servers) == 1 and is_loopback(self.host)

    @property
    def uses_idempotence(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return not self.starts_embedded

    @property
    def effective_fetch_max_wait_ms(self) -> int:
        if self.fetch_max_wait_ms is not None:
            return self.fetch_max_wait_ms
        return 5 if self.starts_embedded else 500

    @property
    def effective_session_timeout_ms(self) -> int:
        if self.session_timeout_ms is not None:
            return self.session_timeout_ms
        return 2000 if self.starts_embedded else 10_000


class DatabaseConfig(BaseModel):
    """The registry's database: SQLite in the state directory unless a URL is given."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL, e.g. postgresql+asyncpg://user@127.0.0.1:5432/orch. "
        "Default: sqlite+aiosqlite:///<state_dir>/registry.db",
    )
    auto_migrate: bool = Field(
        default=True,
        description="Apply pending Alembic migrations on initialize(); turn off in production "
        "and run `orchestration db upgrade` instead.",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                "(the async drivers this project ships)"
            )
        return value


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
    compensation_timeout_ms: int = Field(default=60_000, ge=MIN_TIMEOUT_MS, le=MAX_TIMEOUT_MS)
    """Start-to-close timeout of one attempt of a compensation."""
    compensation_retry: RetrySpec = Field(
        default_factory=lambda: RetrySpec(maximum_attempts=5, maximum_interval_ms=30_000)
    )
    """Retries of a failed compensation (5 attempts, backoff up to 30 s by default) before the
    saga ends FAILED for manual intervention."""
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


class RegistryConfig(BaseModel):
    """The agent registry: in-process by default, or a remote registry service by ``url``."""

    url: str | None = Field(
        default=None,
        description="Base URL of a registry service (http://host:8000); unset: in-process.",
    )
    token: SecretStr | None = Field(
        default=None,
        description="Bearer token the service requires (and clients send). Without one the "
        "service only binds to loopback.",
    )
    host: str = Field(default="127.0.0.1", description="Address the registry service binds to.")
    port: Port = Field(default=8000, description="Port the registry service listens on.")
    heartbeat_interval_s: float = Field(
        default=30.0, gt=0, le=3600, description="How often agents are expected to heartbeat."
    )
    health_check_interval_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How often every agent's health status is re-evaluated.",
    )
    deregistration_timeout_s: float = Field(
        default=300.0,
        gt=0,
        le=30 * 24 * 3600,
        description="Silence after which an agent is removed from the registry.",
    )
    request_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Timeout of a client's requests to a remote registry service.",
    )
    kafka_heartbeats: bool = Field(
        default=False,
        description="The registry service also ingests HEARTBEAT messages from Kafka.",
    )
    heartbeat_topic: str = Field(
        default="registry.heartbeats",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,199}$",
        description="The topic Kafka heartbeats arrive on.",
    )
    health_series_limit: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="At most this many registry_agent_health{agent_id} series; with more "
        "agents, the least healthy are published.",
    )

    @property
    def service_url(self) -> str:
        """The registry service: ``url``, or the one ``orchestration up`` runs on this host."""
        if self.url:
            return self.url.rstrip("/")
        return local_url(self.host, self.port)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value


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
    temporal: TemporalConfig = Field(default_factory=TemporalConfig)
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    saga: SagaConfig = Field(default_factory=SagaConfig)
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

"""Where the services are: the Temporal frontend, the Kafka cluster, the registry's database
and the registry service. Sections of :class:`~orchestration.core.settings.Settings`
(``ORCH_TEMPORAL_*``, ``ORCH_KAFKA_*``, ``ORCH_DATABASE_*``, ``ORCH_REGISTRY_*``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from orchestration.core.network import is_loopback, local_url, split_host_port, split_urls, url_host

__all__ = [
    "DatabaseConfig",
    "KafkaConfig",
    "Port",
    "RegistryConfig",
    "TemporalConfig",
    "comma_list",
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

    def web_ui(self, workflow_id: str | None = None, *, query: str | None = None) -> str:
        """The Web UI's page of ``workflow_id``, or of the namespace's workflow list (filtered
        by a visibility ``query`` such as ``OrchestrationType = 'saga'``)."""
        base = (self.ui_url or f"http://{url_host(self.host)}:{self.ui_port}").rstrip("/")
        page = f"{base}/namespaces/{quote(self.namespace, safe='')}/workflows"
        if workflow_id:
            return f"{page}/{quote(workflow_id, safe='')}"
        return f"{page}?query={quote(query, safe='')}" if query else page


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


class RegistryConfig(BaseModel):
    """The agent registry: in-process by default, or a remote registry service by ``url``."""

    url: str | None = Field(
        default=None,
        description="Base URL of a registry service (http://host:8000), or of several "
        "replicas on one database, comma-separated (clients spread over them and fail over "
        "to the next); unset: in-process.",
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
        """The registry service (comma-separated replicas): ``url``, or the one
        ``orchestration up`` runs on this host."""
        if self.url:
            return self.url
        return local_url(self.host, self.port)

    @property
    def service_urls(self) -> list[str]:
        """Each registry service of :attr:`service_url`."""
        return self.service_url.split(",")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return ",".join(split_urls(value)) if value is not None else None

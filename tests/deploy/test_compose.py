"""The production deployment files, checked by parsing them: no Docker engine, no servers.

docker-compose.yml, the Dockerfile, the Prometheus configuration, the OpenTelemetry Collector's
and the Grafana provisioning must agree with each other and with the code: every command is a
real CLI command, every ``ORCH_*`` variable is a setting that parses, every scrape target is a
process serving /metrics on that port, every metric a dashboard queries exists, every process
of ours exports its spans to the collector, which exports them to the Jaeger Grafana reads.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import typer.main
import yaml
from prometheus_client import REGISTRY
from pydantic import BaseModel, SecretStr

import bus.metrics
import registry.metrics
import registry.routing.metrics
import workflows.metrics
from bus.bridge_config import BridgeConfig
from orchestration.cli.app import app
from orchestration.core import tracing
from orchestration.core.network import ANY_ADDRESS, split_host_port
from orchestration.core.settings import Settings
from workers.agent_runtime import load_agents

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "POSTGRES_PASSWORD": "postgres-secret",
    "REGISTRY_TOKEN": "registry-secret",
    "GRAFANA_ADMIN_PASSWORD": "grafana-secret",
}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SEED_METRICS = {
    "message_bus_sent_total": bus.metrics.message_bus_sent_total,
    "message_bus_latency_ms": bus.metrics.message_bus_latency_ms,
    "message_bus_connections": bus.metrics.message_bus_connections,
    "routing_messages_total": registry.routing.metrics.routing_messages_total,
    "routing_latency_ms": registry.routing.metrics.routing_latency_ms,
    "scatter_gather_duration_ms": registry.routing.metrics.scatter_gather_duration_ms,
    "swarm_agents_total": workflows.metrics.swarm_agents_total,
    "swarm_convergence_time_ms": workflows.metrics.swarm_convergence_time_ms,
    "swarm_efficiency": workflows.metrics.swarm_efficiency,
    "saga_executions_total": workflows.metrics.saga_executions_total,
    "saga_steps_total": workflows.metrics.saga_steps_total,
    "saga_compensations_total": workflows.metrics.saga_compensations_total,
    "saga_duration_ms": workflows.metrics.saga_duration_ms,
    "registry_agents_total": registry.metrics.registry_agents_total,
    "registry_discovery_latency_ms": registry.metrics.registry_discovery_latency_ms,
    "registry_agent_health": registry.metrics.registry_agent_health,
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"}
PROMQL_WORDS |= {"unless", "offset", "bool", "inf", "nan"}
COLLECTOR, JAEGER = "otel-collector", "jaeger"
WORKER_SERVICE = "orchestration-worker"
"""The worker's ``service.name`` when OTEL_SERVICE_NAME is unset (``orchestration worker``)."""
SAGA_SPAN = "RunWorkflow:SagaWorkflow"
"""The span Temporal's TracingInterceptor opens on the worker for a saga's run."""
GRAFANA_GLOBALS = {"__from", "__to"}

_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<braced>\w+)(?P<op>:?[-?])?(?P<arg>[^}]*)\}|(?P<bare>[A-Za-z_]\w*))"
)


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: ``${X}``, ``${X:-default}``, ``${X:?error}``, ``$$``."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op = match.group("op") or ""
        if env.get(name):
            return env[name]
        if op.endswith("?"):
            raise AssertionError(f"${{{name}}} is required: {match.group('arg')}")
        return match.group("arg") if op.endswith("-") else ""

    return _VARIABLE.sub(substitute, text)


@cache
def compose() -> dict[str, Any]:
    text = (ROOT / "docker-compose.yml").read_text()
    return yaml.safe_load(interpolate(text, SECRETS))  # type: ignore[no-any-return]


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]  # type: ignore[no-any-return]


def ours() -> list[str]:
    """The services running our image (built from the Dockerfile)."""
    return sorted(name for name, service in services().items() if "build" in service)


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


@cache
def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = (line.strip() for line in text.splitlines())
    return [
        (keyword.upper(), rest.strip())
        for keyword, _, rest in (line.partition(" ") for line in lines)
        if keyword and not keyword.startswith("#")
    ]


def environment(name: str) -> dict[str, str]:
    """A service's ``ORCH_*`` environment: the Dockerfile's ENV, then the compose file's."""
    env: dict[str, str] = {}
    if name in ours():
        for keyword, args in dockerfile():
            if keyword == "ENV":
                for pair in shlex.split(args):
                    key, _, value = pair.partition("=")
                    env[key] = value
    env.update({k: str(v) for k, v in services()[name].get("environment", {}).items()})
    return {k: v for k, v in env.items() if k.startswith("ORCH_")}


@contextmanager
def only_environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        for var in [var for var in os.environ if var.startswith("ORCH_")]:
            del os.environ[var]
        os.environ.update(env)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def settings_for(name: str) -> Settings:
    with only_environment(environment(name)):
        return Settings(_env_file=None)


def setting_field(settings: Settings, var: str) -> tuple[BaseModel, str]:
    """The model and field an ``ORCH_*`` variable sets (sections split at the first ``_``)."""
    name = var.removeprefix("ORCH_").lower()
    if name in Settings.model_fields:
        return settings, name
    section, _, field = name.partition("_")
    owner = getattr(settings, section, None)
    assert isinstance(owner, BaseModel), f"{var} is not a setting"
    assert field in type(owner).model_fields, f"{var} is not a setting"
    return owner, field


def as_env(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def command(name: str) -> list[str]:
    return [str(arg) for arg in services()[name]["command"]]


def metrics_ports(name: str) -> set[int]:
    """The ports a service serves /metrics on, from its settings (or its image's settings)."""
    if name == "temporal":
        endpoint = services()[name]["environment"]["PROMETHEUS_ENDPOINT"]
        return {split_host_port(endpoint, default_port=0)[1]}
    if name == "prometheus":
        return {9090}
    if name not in ours():
        return set()
    settings, process = settings_for(name), command(name)[0]
    ports = {
        "worker": settings.metrics_port,
        "agent": settings.agent_metrics_port,
        "bridge": settings.bridge.metrics_port,
        "registry": settings.registry.port,
    }
    served = {ports.get(process)}
    if process in {"worker", "agent", "bridge"}:  # Temporal workers and clients
        served.add(settings.temporal.metrics_port)
    return {port for port in served if port is not None}


def container_ports(service: dict[str, Any]) -> set[int]:
    ports = set()
    for spec in service.get("ports", []):
        target = spec["target"] if isinstance(spec, dict) else str(spec).rsplit(":", 1)[-1]
        ports.add(int(str(target).split("/")[0]))
    return ports


def bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Host path (relative to the repository) -> container path, for ``./...`` mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith("./"):
            mounts[source.removeprefix("./")] = target
    return mounts


@cache
def prometheus() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())  # type: ignore[no-any-return]


def scrape_targets() -> Iterator[tuple[str, str, int]]:
    """(job, host, port) of every static or DNS-discovered target."""
    for job in prometheus()["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                yield (job["job_name"], *split_host_port(target, default_port=80))
        for dns in job.get("dns_sd_configs", []):
            assert dns.get("type") == "A" and dns.get("port"), "DNS discovery needs type A + port"
            for host in dns["names"]:
                yield job["job_name"], host, int(dns["port"])


@cache
def dashboard() -> dict[str, Any]:
    return json.loads((ROOT / "deploy/grafana/dashboards/orchestration.json").read_text())  # type: ignore[no-any-return]


def expressions() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def metric_selectors(expr: str) -> list[tuple[str, str]]:
    """(metric name, label selector) of every series a PromQL expression reads."""
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range vectors, incl. Grafana's $__rate_interval
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    found = []
    selector = r'\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\}'
    for match in re.finditer(rf"([A-Za-z_:][\w:]*)\s*({selector})?(\s*\()?", expr):
        name, labels, call = match.groups()
        if (call and not labels) or name.lower() in PROMQL_WORDS:
            continue  # a function or an operator
        found.append((name, labels or ""))
    return found


def exposed_series() -> set[str]:
    """Series names our prometheus_client metrics expose (``describe`` drops ``_total``)."""
    names = set()
    for family in REGISTRY.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count")}
        else:
            names.add(family.name)
    return names


def otel_environment(name: str) -> dict[str, str]:
    """A service's ``OTEL_*`` environment, as the compose file sets it."""
    env = services()[name].get("environment", {})
    return {k: str(v) for k, v in env.items() if k.startswith("OTEL_")}


@cache
def collector_config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "deploy/otel-collector/config.yaml").read_text())  # type: ignore[no-any-return]


def collector_receiver(protocol: str) -> tuple[str, int]:
    """(host, port) the collector's OTLP receiver binds for ``grpc`` or ``http``."""
    endpoint = collector_config()["receivers"]["otlp"]["protocols"][protocol]["endpoint"]
    return split_host_port(endpoint, default_port=0)


def jaeger_port(variable: str) -> int:
    """The port of a Jaeger ``*_HOST_PORT`` setting (``:4317``: every interface)."""
    host, _, port = services()[JAEGER]["environment"][variable].rpartition(":")
    assert host in ANY_ADDRESS, f"{variable} binds {host}, not every interface"
    return int(port)


def published(service: dict[str, Any]) -> dict[int, tuple[str, int]]:
    """Container port -> (host address, host port) of ``host:port:container`` specs."""
    ports = {}
    for spec in service.get("ports", []):
        address, host_port, target = str(spec).split(":")
        ports[int(target)] = (address, int(host_port))
    return ports


@cache
def jaeger_datasource() -> dict[str, Any]:
    path = ROOT / "deploy/grafana/provisioning/datasources/jaeger.yml"
    (source,) = yaml.safe_load(path.read_text())["datasources"]
    return source  # type: ignore[no-any-return]


def row_panels(title: str) -> list[dict[str, Any]]:
    """The panels below the dashboard row ``title``, up to the next row."""
    found, inside = [], False
    for panel in dashboard()["panels"]:
        if panel["type"] == "row":
            inside = panel["title"] == title
        elif inside:
            found.append(panel)
    return found


def panel_link(panel: dict[str, Any], title: str) -> str:
    urls = [link["url"] for link in panel.get("links", []) if link["title"] == title]
    assert len(urls) == 1, f"{panel['title']}: no link {title!r}"
    return str(urls[0])


# ------------------------------------------------------------------------ docker-compose.yml


def test_every_service_has_an_image_or_a_build() -> None:
    for name, service in services().items():
        assert "image" in service or "build" in service, name


def test_our_services_build_from_the_dockerfile() -> None:
    assert {"migrate", "registry", "worker", "bridge"} <= set(ours())
    assert any(command(name)[0] == "agent" for name in ours())
    for name in ours():
        build = services()[name]["build"]
        assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).is_file(), name


@pytest.mark.parametrize("name", ours())
def test_commands_are_real_cli_commands(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    args = command(name)
    found: Any = typer.main.get_command(app)
    path = ["orchestration"]
    while isinstance(getattr(found, "commands", None), dict):  # a group (typer vendors click)
        assert args, f"{name}: {' '.join(path)} needs a subcommand"
        sub = found.commands.get(args[0])
        assert sub is not None, f"{name}: {' '.join(path)} has no command {args[0]!r}"
        path.append(args.pop(0))
        found = sub
    context = found.make_context(" ".join(path), list(args))  # parses options and arguments
    monkeypatch.chdir(ROOT)  # the image's working directory holds examples/, as the checkout
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_agents adds the working directory
    if path[-1] == "agent":
        load_agents(context.params["specs"])
    if path[-1] == "bridge":
        BridgeConfig.load(context.params["config"])


@pytest.mark.parametrize("name", ours())
def test_orchestration_variables_are_settings_that_parse(name: str) -> None:
    env = environment(name)
    settings = settings_for(name)
    for var, value in env.items():
        owner, field = setting_field(settings, var)
        assert field in owner.model_fields_set, f"{name}: {var} did not set {field}"
        parsed = getattr(owner, field)
        expected = value.lower() if isinstance(parsed, bool) else value
        assert as_env(parsed) == expected, f"{name}: {var}={value} parsed as {parsed!r}"


def test_shared_addresses_point_at_the_services_serving_them() -> None:
    postgres = services()["postgres"]["environment"]
    kafka = services()["kafka"]["environment"]
    registry_settings = settings_for("registry")
    for name in ours():
        settings = settings_for(name)
        host, port = split_host_port(settings.temporal.address, default_port=7233)
        assert (host, port) == ("temporal", 7233), name
        for server in settings.kafka.bootstrap_servers:
            assert f"PLAINTEXT://{server}" in kafka["KAFKA_ADVERTISED_LISTENERS"], name
        url = urlsplit(settings.database_url)
        assert (url.hostname, url.port) == ("postgres", 5432), name
        assert url.username == postgres["POSTGRES_USER"], name
        assert url.password == SECRETS["POSTGRES_PASSWORD"], name
        assert url.path == f"/{postgres['POSTGRES_DB']}", name
        assert settings.registry.token == registry_settings.registry.token, name
        if settings.registry.url is not None:
            registry_url = urlsplit(settings.registry.url)
            assert registry_url.hostname == "registry", name
            assert registry_url.port == registry_settings.registry.port, name
    assert services()["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_secrets_must_be_provided() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for secret in SECRETS:
        assert f"${{{secret}:?" in text, f"{secret} must be required (${{{secret}:?...}})"
        assert f"${{{secret}:-" not in text, f"{secret} must have no default"


def test_depends_on_names_services_with_valid_conditions() -> None:
    for name, service in services().items():
        for dependency, condition in depends_on(service).items():
            assert dependency in services(), f"{name} depends on unknown {dependency}"
            assert condition in CONDITIONS, f"{name}: {condition}"
            target = services()[dependency]
            if condition == "service_healthy":
                assert "healthcheck" in target, f"{name} waits for {dependency}'s healthcheck"
            if condition == "service_completed_successfully":
                assert target.get("restart", "no") == "no", f"{dependency} must be one-shot"


def test_services_with_ports_are_health_checked() -> None:
    started = {
        dependency
        for service in services().values()
        for dependency, condition in depends_on(service).items()
        if condition == "service_started"
    }
    for name, service in services().items():
        if service.get("ports"):
            assert "healthcheck" in service or name in started, name
    for name in ours():
        check = " ".join(services()[name].get("healthcheck", {}).get("test", []))
        for port in re.findall(r"http://127\.0\.0\.1:(\d+)/", check):
            assert int(port) in metrics_ports(name), f"{name} health-checks port {port}"


def test_published_ports_are_the_ports_the_settings_choose() -> None:
    registry_settings = settings_for("registry")
    assert container_ports(services()["registry"]) == {registry_settings.registry.port}
    assert registry_settings.registry.host == "0.0.0.0"
    for name in ours():
        assert container_ports(services()[name]) <= metrics_ports(name), name
    assert container_ports(services()["temporal"]) == {7233}


def test_mounted_files_exist() -> None:
    for name, service in services().items():
        for source in bind_mounts(service):
            assert (ROOT / source).exists(), f"{name} mounts missing {source}"


# ------------------------------------------------------------------------ Dockerfile


def test_dockerfile_installs_the_package_and_runs_the_orchestration_script() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    instructions = dockerfile()
    entrypoint = [json.loads(args) for keyword, args in instructions if keyword == "ENTRYPOINT"]
    assert entrypoint and entrypoint[-1] == ["orchestration"]
    assert "orchestration" in project["project"]["scripts"]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    copied = {args.split()[0].rstrip("/") for keyword, args in instructions if keyword == "COPY"}
    assert {"pyproject.toml", project["project"]["readme"]} <= {
        part for keyword, args in instructions if keyword == "COPY" for part in args.split()
    }
    assert set(project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]) <= copied
    installs = [args for keyword, args in instructions if "pip install" in args]
    assert installs and not any(re.search(r"(\s-e\s|--editable)", args) for args in installs)
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().splitlines())
    assert {".venv", ".orchestration", ".git", ".env", "**/__pycache__"} <= ignored


# ------------------------------------------------------------------------ Prometheus


def test_prometheus_scrapes_services_on_the_ports_they_serve_metrics_on() -> None:
    scraped = set()
    for job, host, port in scrape_targets():
        name = "prometheus" if host == "localhost" else host
        assert name in services(), f"job {job}: {host} is not a compose service"
        assert port in metrics_ports(name), f"job {job}: {name} serves no metrics on {port}"
        scraped.add((name, port))
    long_running = [name for name in ours() if services()[name].get("restart") != "no"]
    for name in [*long_running, "temporal"]:
        for port in metrics_ports(name):
            assert (name, port) in scraped, f"{name}:{port} is not scraped"


def test_prometheus_sends_the_registry_token() -> None:
    (job,) = [job for job in prometheus()["scrape_configs"] if job["job_name"] == "registry"]
    secret = job["authorization"]["credentials_file"].removeprefix("/run/secrets/")
    assert secret in services()["prometheus"]["secrets"]
    variable = compose()["secrets"][secret]["environment"]
    token = settings_for("registry").registry.token
    assert token is not None and token.get_secret_value() == SECRETS[variable]


def test_prometheus_configuration_is_the_mounted_one() -> None:
    service = services()["prometheus"]
    target = bind_mounts(service)["deploy/prometheus/prometheus.yml"]
    assert f"--config.file={target}" in service["command"]


# ------------------------------------------------------------------------ Grafana


def test_grafana_provisioning_points_at_the_mounted_dashboards_and_prometheus() -> None:
    grafana = ROOT / "deploy/grafana"
    mounts = bind_mounts(services()["grafana"])
    assert mounts["deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    providers = yaml.safe_load((grafana / "provisioning/dashboards/dashboards.yml").read_text())
    assert [p["options"]["path"] for p in providers["providers"]] == [
        mounts["deploy/grafana/dashboards"]
    ]
    (source,) = yaml.safe_load((grafana / "provisioning/datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    url = urlsplit(source["url"])
    assert source["type"] == "prometheus"
    assert url.hostname == "prometheus" and url.port in metrics_ports("prometheus")


def test_dashboard_panels_use_the_provisioned_datasource() -> None:
    datasources = ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml"
    uid = yaml.safe_load(datasources.read_text())["datasources"][0]["uid"]
    board = dashboard()
    assert board["uid"] and board["schemaVersion"] >= 36
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]


def test_dashboard_queries_only_metrics_that_exist() -> None:
    ours_ = exposed_series()
    jobs = {job["job_name"] for job in prometheus()["scrape_configs"]}
    assert "temporal-server" in jobs
    for expr in expressions():
        selectors = metric_selectors(expr)
        assert selectors, expr
        for name, labels in selectors:
            if name in ours_ or name == "up" or name.startswith("temporal_"):
                continue  # ours, Prometheus's own, or the Temporal SDK's
            # Temporal server metrics have no prefix: they must be read from that job only.
            assert 'job="temporal-server"' in labels, f"unknown metric {name} in {expr}"


def test_dashboard_shows_every_seed_metric() -> None:
    used = {name for expr in expressions() for name, _ in metric_selectors(expr)}
    for seed, metric in SEED_METRICS.items():
        (family,) = metric.describe()
        base = family.name
        series = {seed, f"{base}_total", f"{base}_bucket", f"{base}_sum", f"{base}_count"}
        assert used & series, f"no panel shows {seed}"


# ------------------------------------------------------------------------ Traces


def test_our_services_export_traces_to_the_collector() -> None:
    host, port = collector_receiver("http")
    assert host in ANY_ADDRESS and port == 4318, "the collector must take OTLP/HTTP on 4318"
    for name in ours():
        env = otel_environment(name)
        assert tracing.wanted(env), f"{name} does not turn tracing on"
        url = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert url.scheme == "http" and url.path in {"", "/"}, name
        assert (url.hostname, url.port) == (COLLECTOR, port), name
        # Ours export http/protobuf only (tracing.setup refuses grpc).
        assert env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") == "http/protobuf", name
    # The dashboard's trace links search the worker under its default service name.
    assert "OTEL_SERVICE_NAME" not in otel_environment("worker")


def test_collector_configuration_is_the_mounted_one() -> None:
    service = services()[COLLECTOR]
    target = bind_mounts(service)["deploy/otel-collector/config.yaml"]
    assert f"--config={target}" in service["command"]
    # A published port needs a healthcheck, which the collector's image (no shell) cannot run.
    assert not service.get("ports"), "the collector's OTLP ports stay inside the network"


def test_collector_receives_otlp_and_exports_traces_to_jaeger() -> None:
    config = collector_config()
    pipeline = config["service"]["pipelines"]["traces"]
    assert "otlp" in pipeline["receivers"]
    # The collector refuses to start on a component the pipeline names but nobody defines.
    for kind in ("receivers", "processors", "exporters"):
        for component in pipeline.get(kind, []):
            assert component in config[kind], f"traces pipeline: {component} is not defined"
    for extension in config["service"].get("extensions", []):
        assert extension in config["extensions"], f"{extension} is not defined"
    assert "batch" in pipeline["processors"]
    assert collector_receiver("grpc")[0] in ANY_ADDRESS  # receivers default to localhost
    exporters = [name for name in pipeline["exporters"] if name.split("/")[0] == "otlp"]
    assert len(exporters) == 1, exporters
    exporter = config["exporters"][exporters[0]]
    host, port = split_host_port(exporter["endpoint"], default_port=0)
    assert host == JAEGER and host in services()
    assert port == jaeger_port("COLLECTOR_OTLP_GRPC_HOST_PORT")
    assert services()[JAEGER]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert exporter["tls"]["insecure"] is True  # Jaeger's OTLP receiver has no TLS here


def test_jaeger_publishes_its_ui_and_health_checks_its_admin_port() -> None:
    jaeger = services()[JAEGER]
    ui = jaeger_port("QUERY_HTTP_SERVER_HOST_PORT")
    assert set(published(jaeger)) == {ui}
    assert published(jaeger)[ui][0] == "127.0.0.1"
    check = " ".join(jaeger["healthcheck"]["test"])
    ports = re.findall(r"http://127\.0\.0\.1:(\d+)/", check)
    assert ports == [str(jaeger_port("ADMIN_HTTP_HOST_PORT"))], check


def test_grafana_jaeger_datasource_points_at_the_jaeger_ui() -> None:
    source = jaeger_datasource()
    url = urlsplit(source["url"])
    assert source["type"] == "jaeger" and source["uid"]
    assert (url.hostname, url.port) == (JAEGER, jaeger_port("QUERY_HTTP_SERVER_HOST_PORT"))
    assert depends_on(services()["grafana"]).get(JAEGER) == "service_healthy"


def test_saga_panels_link_to_the_sagas_traces() -> None:
    uid = jaeger_datasource()["uid"]
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["saga_id"]["type"] == "textbox"
    jaeger_ui = published(services()[JAEGER])[jaeger_port("QUERY_HTTP_SERVER_HOST_PORT")]
    panels = row_panels("Sagas")
    assert len(panels) >= 2
    for panel in panels:
        title = panel["title"]
        explore = urlsplit(panel_link(panel, "Traces of sagas"))
        assert (explore.netloc, explore.path) == ("", "/explore"), title
        query = parse_qs(explore.query, strict_parsing=True)
        assert query["schemaVersion"] == ["1"], title
        (pane,) = json.loads(query["panes"][0]).values()
        (target,) = pane["queries"]
        assert pane["datasource"] == uid, title
        assert target["datasource"] == {"type": "jaeger", "uid": uid}, title
        assert target["queryType"] == "search", title
        assert (target["service"], target["operation"]) == (WORKER_SERVICE, SAGA_SPAN), title
        assert pane["range"] == {"from": "${__from}", "to": "${__to}"}, title

        by_id = panel_link(panel, "Trace of a saga by id")
        search = urlsplit(by_id)
        assert (search.hostname, search.port) == jaeger_ui, title
        assert search.path == "/search", title
        query = parse_qs(search.query, strict_parsing=True)
        assert (query["service"], query["operation"]) == ([WORKER_SERVICE], [SAGA_SPAN]), title
        tags = json.loads(query["tags"][0])
        assert tags == {"temporalWorkflowID": "${saga_id:percentencode}"}, title
        for url in (panel_link(panel, "Traces of sagas"), by_id):
            for name in re.findall(r"\$\{(\w+)", url):
                assert name in variables or name in GRAFANA_GLOBALS, f"{title}: ${{{name}}}"

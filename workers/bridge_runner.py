"""``orchestration bridge``: run the Kafka → Temporal bridge of ``ORCH_BRIDGE_CONFIG``."""

from __future__ import annotations

import asyncio
import logging

from bus.bridge import Bridge
from bus.bridge_config import BridgeConfig
from bus.message_bus import MessageBus
from orchestration.core.exceptions import ConfigurationError
from orchestration.core.lifecycle import cancel_and_wait, wait_for_stop_signal
from orchestration.core.metrics import (
    BRIDGE_FAMILIES,
    sdk_runtime,
    serve_metrics,
)
from orchestration.core.settings import Settings
from orchestration.core.temporal_client import connect

__all__ = ["run_bridge"]

log = logging.getLogger(__name__)


async def run_bridge(settings: Settings) -> None:
    """Connect to Temporal and Kafka, serve /metrics, bridge until SIGINT/SIGTERM.

    Raises:
        ConfigurationError: no or an invalid bridge configuration.
        StackError, MessageBusError: Temporal or Kafka cannot be reached.
    """
    if settings.bridge.config is None:
        raise ConfigurationError(
            "no bridge configuration: set ORCH_BRIDGE_CONFIG to a YAML or JSON file of routes "
            "(or pass --config)",
            setting="ORCH_BRIDGE_CONFIG",
        )
    config = BridgeConfig.load(settings.bridge.config)
    client = await connect(settings, runtime=sdk_runtime(settings))
    async with MessageBus(settings.kafka) as bus:
        metrics = serve_metrics(
            settings.bridge.metrics_port,
            settings.metrics_host,
            setting="ORCH_BRIDGE_METRICS_PORT",
            what="bridge",
            families=BRIDGE_FAMILIES,
        )
        bridge = Bridge(config, client, bus)
        task = asyncio.create_task(bridge.run(), name="bridge")
        stop = asyncio.create_task(wait_for_stop_signal(), name="stop signal")
        log.info(
            "bridge running %d route(s) from %s; metrics on %s",
            len(config.routes),
            settings.bridge.config,
            metrics,
        )
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        await cancel_and_wait(stop)
        await cancel_and_wait(task)  # raises what a failed route raised
        log.info(
            "bridge stopped: %d signal(s) sent, %d dead letter(s)",
            bridge.signaled,
            bridge.dead_lettered,
        )

"""The registry service: the agent registry and the message router over HTTP.

``create_app`` wraps a registry and a router the caller owns; ``create_app_from_settings``
builds both from the settings; ``serve`` runs the latter with uvicorn until a signal.
The client is :class:`registry.remote_registry.RemoteAgentRegistry`.
"""

from __future__ import annotations

from registry.service.app import create_app, create_app_from_settings
from registry.service.serve import serve

__all__ = ["create_app", "create_app_from_settings", "serve"]

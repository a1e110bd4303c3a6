"""The registry service: the agent registry and the message router over HTTP.

:func:`registry.service.app.create_app` wraps a registry and a router the caller owns;
``create_app_from_settings`` builds both from the settings; :func:`registry.service.serve.serve`
runs the latter with uvicorn until a signal. The client is
:class:`registry.remote_registry.RemoteAgentRegistry`, which needs only
:mod:`registry.service.schemas` (importing this package loads neither FastAPI nor uvicorn).
"""

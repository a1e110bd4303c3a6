"""Bearer-token authentication of the registry service.

A middleware, not a per-route dependency, so that every route (including ``/openapi.json``,
``/docs`` and any endpoint added later) is covered unless it is listed in
:data:`PUBLIC_PATHS`. The token is compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hmac

from fastapi.security import HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from orchestration.core.exceptions import ConfigurationError
from registry.service.errors import error_response

__all__ = ["PUBLIC_PATHS", "TOKEN_SETTING", "BearerAuthMiddleware", "bearer_scheme", "check_token"]

PUBLIC_PATHS = frozenset({"/health"})
"""Paths answered without a token: only the liveness probe."""
TOKEN_SETTING = "ORCH_REGISTRY_TOKEN"

bearer_scheme = HTTPBearer(
    auto_error=False,
    description=f"The registry's token ({TOKEN_SETTING}), sent as Authorization: Bearer <token>.",
)
"""Declares the scheme in the OpenAPI document (the middleware does the checking)."""


def check_token(token: str | None) -> str | None:
    """The token to require, or None for an open service.

    Raises:
        ConfigurationError: the token is empty or blank (that would accept ``Bearer ``).
    """
    if token is not None and not token.strip():
        raise ConfigurationError(
            f"{TOKEN_SETTING} is set but empty: set it to a long random string, or unset it",
            setting=TOKEN_SETTING,
        )
    return token


class BearerAuthMiddleware:
    """Refuse every request outside :data:`PUBLIC_PATHS` without ``Authorization: Bearer``.

    Args:
        app: the application to protect.
        token: the token clients must send.
    """

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self._app = app
        self._token = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self._app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        if header is None:
            reason = "this registry requires a token: send Authorization: Bearer <token>"
        elif not self._accepts(header):
            reason = f"the bearer token was refused: send the registry's {TOKEN_SETTING}"
        else:
            await self._app(scope, receive, send)
            return
        response = error_response(401, reason, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)

    def _accepts(self, header: str) -> bool:
        scheme, _, credentials = header.strip().partition(" ")
        # Starlette decodes header bytes as latin-1: encoding back gives the bytes sent.
        sent = credentials.strip().encode("latin-1", errors="replace")
        # Both sides are always compared, so the time taken does not depend on the scheme.
        return hmac.compare_digest(sent, self._token) & (scheme.lower() == "bearer")

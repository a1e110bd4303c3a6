"""Every error of the service answers with one JSON shape (:class:`ErrorBody`).

======================================  ======  =================================================
raised                                  status  body
======================================  ======  =================================================
request not matching its schema         422     ``problems`` name each field (``body.agent_id``)
``ValidationError``                     422     ``problems`` are its ``errors``
``AgentNotFoundError``                  404     ``code: agent_not_found``
``RoutingError`` (no rule, no target)   409     ``code: no_route``
retriable ``RegistryError``, database   503     ``Retry-After``; the database URL is only logged
  connection lost
anything else                           500     a generic line; the traceback is only logged
======================================  ======  =================================================
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestration.core.exceptions import (
    AgentNotFoundError,
    OrchestrationError,
    RegistryError,
    RoutingError,
    ValidationError,
)
from registry.service.schemas import ErrorBody, ErrorCode, Problem

__all__ = ["RETRY_AFTER_S", "CatchAllMiddleware", "error_response", "install_error_handlers"]

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
"""Seconds a client is told to wait after a 503."""

_UNAVAILABLE = (
    "the registry's database is unavailable; retry later "
    "(the service keeps running and recovers when the database is back)"
)
_INTERNAL = "internal error in the registry service; it has been logged"

_CODES: dict[int, ErrorCode] = {
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "no_route",
    422: "invalid_request",
    503: "unavailable",
}


def error_response(
    status: int,
    error: str,
    *,
    code: ErrorCode | None = None,
    problems: Iterable[Mapping[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The JSON answer for an error; ``code`` defaults to the usual one for ``status``."""
    body = ErrorBody(
        error=error,
        code=code or _CODES.get(status) or ("invalid_request" if status < 500 else "internal"),
        problems=[Problem(field=p["field"], problem=p["problem"]) for p in problems],
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def unavailable_response() -> JSONResponse:
    return error_response(503, _UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_S)})


def _field(location: Iterable[object]) -> str:
    return ".".join(str(part) for part in location) or "body"


async def _request_invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [{"field": _field(e.get("loc", ())), "problem": str(e["msg"])} for e in exc.errors()]
    names = ", ".join(dict.fromkeys(p["field"] for p in problems))
    return error_response(422, f"invalid request: check {names}", problems=problems)


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    return error_response(422, exc.message, problems=exc.errors)


async def _agent_not_found(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AgentNotFoundError)
    return error_response(404, exc.message, code="agent_not_found")


async def _no_route(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RoutingError)
    return error_response(409, exc.message)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _library_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OrchestrationError)
    if isinstance(exc, RegistryError) and exc.retriable:
        logger.warning("%s %s: %s", request.method, request.url.path, exc)
        return unavailable_response()
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, _INTERNAL)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    # A connection dropped in the middle of a statement: the checkout was fine, so
    # translate_connect_errors did not see it, but it is the same outage.
    if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
        logger.warning("%s %s: database error: %s", request.method, request.url.path, exc)
        return unavailable_response()
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, _INTERNAL)


def install_error_handlers(app: FastAPI) -> None:
    """Map the library's errors (most specific class first, as Starlette looks up the MRO)."""
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ValidationError, _invalid)
    app.add_exception_handler(AgentNotFoundError, _agent_not_found)
    app.add_exception_handler(RoutingError, _no_route)
    app.add_exception_handler(OrchestrationError, _library_error)
    app.add_exception_handler(DBAPIError, _database_error)


class CatchAllMiddleware:
    """Answer any other exception with a generic 500, logging its traceback here only.

    Starlette's own last-resort handler would re-raise after answering (and the server would
    log the error a second time); this one answers and stops.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await error_response(500, _INTERNAL)(scope, receive, send)

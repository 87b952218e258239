"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from sharing_api.chain.errors import ChainUnavailable, ContractRevert

PROBLEM = "application/problem+json"
PROBLEM_CONTENT = PROBLEM
log = logging.getLogger(__name__)
# An RFC 9457 problem as this API writes it (some carry more members: `errors` on a 422,
# `revert` on a contract refusal, `retry_after` on a 429).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    405: {"Allow": {"schema": {"type": "string"}, "description": "the methods allowed"}},
    429: {"Retry-After": {"schema": {"type": "string"}, "description": "seconds to wait"}},
}
# The problem responses every route may answer, for the OpenAPI document (the app
# documents them on every route: a chain outage or a rate limit can meet any of them).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {
        "description": text,
        "content": {PROBLEM_CONTENT: {"schema": PROBLEM_SCHEMA}},
        **({"headers": _HEADERS[code]} if code in _HEADERS else {}),
    }
    for code, text in (
        (400, "bad input"),
        (401, "no valid token"),
        (403, "not allowed"),
        (404, "unknown"),
        (409, "conflicts with the chain's state"),
        (410, "erased at the patient's request: the ciphertext is gone for good"),
        (413, "too large"),
        (422, "malformed"),
        (429, "over a rate limit or quota: retry after Retry-After seconds"),
        (502, "another member's gateway failed to answer"),
        (503, "the chain, the store or a peer gateway is unavailable"),
    )
}


class ApiError(Exception):
    """An error a route raises on purpose: status, short title, human detail."""

    def __init__(self, status: int, detail: str, title: str = "", **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.extra = extra


def forbidden(detail: str) -> ApiError:
    return ApiError(403, detail, "Forbidden")


def not_found(detail: str) -> ApiError:
    return ApiError(404, detail, "Not Found")


def gone(record_id: int) -> ApiError:
    return ApiError(
        410, f"record {record_id} was erased at the patient's request: nothing to read", "Gone"
    )


# Contract errors that mean "you may not" rather than "your request is malformed".
_FORBIDDEN_REVERTS = {
    "NotMember",
    "NotCustodian",
    "NotReferrer",
    "NotReceiver",
    "NotOwnAccess",
    "ReaderNotCustodian",
    "BasisDoesNotCover",
    "NotCareProvider",
    "NotReader",
    "NotPatient",
    "NotRegulator",
    "NotRequester",
    "NotConsultant",
}
_NOT_FOUND_REVERTS = {
    "UnknownRecord",
    "UnknownConsent",
    "UnknownReferral",
    "UnknownConsultation",
    "NotBreakGlass",
}
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    429: "Too Many Requests",
    422: "Unprocessable Content",
    503: "Service Unavailable",
}


def problem(status: int, detail: str, title: str = "", **extra: Any) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if "retry_after" in extra:  # a rate limit (api/core/limits.py): when to come back
        headers["Retry-After"] = str(extra["retry_after"])
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def revert_status(exc: ContractRevert) -> int:
    if exc.name in _FORBIDDEN_REVERTS:
        return 403
    if exc.name in _NOT_FOUND_REVERTS:
        return 404
    return 409


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """The methods of every route matching this path. Starlette's 405 names only those of
    the first route that matched, though GET and POST of one path are two routes here."""
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)  # PARTIAL: the path, another method
            if match is not Match.NONE:
                methods |= route.methods
    return sorted(methods)


def install(app: FastAPI) -> None:
    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return problem(exc.status, exc.detail, exc.title, **exc.extra)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        response = problem(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # RFC 9110: name every method the path has
            response.headers["Allow"] = ", ".join(allowed_methods(app, request))
        return response

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return problem(422, "request does not match the schema", errors=errors)

    async def revert_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ContractRevert)
        return problem(revert_status(exc), str(exc), revert=exc.name)

    async def value_error(_: Request, exc: Exception) -> JSONResponse:
        return problem(400, str(exc))

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("backend unavailable: %s", exc)
        return problem(503, str(exc))

    async def missing(_: Request, exc: Exception) -> JSONResponse:
        return problem(404, str(exc))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ContractRevert, revert_error)
    app.add_exception_handler(ChainUnavailable, unavailable)
    # Documented errors of the project: ValueError = bad input, OSError = a server down.
    # FileNotFoundError (a missing blob) is an OSError but means 404.
    app.add_exception_handler(FileNotFoundError, missing)
    app.add_exception_handler(ValueError, value_error)
    app.add_exception_handler(OSError, unavailable)

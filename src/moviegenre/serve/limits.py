"""The API's refusals: bodies too big (413), JSON keys sent twice and invalid requests (422),
a full server (503 + Retry-After), all as JSON bodies of :mod:`moviegenre.serve.schemas`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from moviegenre.serve.schemas import ErrorBody, InvalidBody, Issue
from moviegenre.serve.settings import ApiSettings


class SafeJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: a lone surrogate from the client cannot break the encoder."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode()


def error(status: int, detail: str, **extra: Any) -> JSONResponse:
    body = ErrorBody(detail=detail, **extra).model_dump(exclude_none=True)
    return SafeJSONResponse(body, status)


def invalid(issues: list[dict[str, Any]], code: str | None = None) -> JSONResponse:
    """A 422 whose ``detail`` is the list of issues (``loc``, ``msg``, ``type``), as FastAPI's."""
    body = InvalidBody(detail=[Issue(**i) for i in issues], code=code)
    return SafeJSONResponse(body.model_dump(exclude_none=True), 422)


class BodyLimit:
    """ASGI middleware: refuse bodies over ``max_bytes`` (declared or streamed) with 413."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_big(self, size: str) -> JSONResponse:
        return error(
            413,
            f"request body is {size} bytes; the limit is {self.max_bytes} (max_body_bytes)",
            limit="max_body_bytes",
        )

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._too_big(declared)(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._too_big(f"over {size}")(scope, receive, send)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def busy(detail: str, retry_after: int) -> JSONResponse:
    response = error(503, detail)
    response.headers["Retry-After"] = str(retry_after)
    return response


def repeated_key(body: bytes) -> str | None:
    """The first key that a JSON object of ``body`` repeats (None if none, or not JSON)."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and not repeated:
                repeated.append(key)
            seen.add(key)
        return dict(items)

    try:
        json.loads(body, object_pairs_hook=pairs)
    except (ValueError, RecursionError):  # FastAPI answers what is not JSON
        return None
    return repeated[0] if repeated else None


class StrictJSONRoute(APIRoute):
    """A route that refuses a JSON body repeating a key with 422, where JSON parsers disagree
    (Python's keeps the last value, others the first or an error)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Any:
            body = await request.body()  # kept by the request: FastAPI reads it again
            key = repeated_key(body) if body else None
            if key is not None:
                shown = key if len(key) <= 40 else key[:40] + "..."
                error = {
                    "type": "duplicate_key",
                    "loc": ("body", shown),
                    "msg": f"the key {shown!r} appears more than once; send each key once",
                    "input": None,
                }
                raise RequestValidationError([error])
            return await handler(request)

        return strict


def validation_response(exc: RequestValidationError, settings: ApiSettings) -> JSONResponse:
    """413 for the per-request limits, else a 422 whose message lists what was wrong."""
    errors = exc.errors()
    for err in errors:
        loc, kind = tuple(err.get("loc", ())), err.get("type")
        if kind == "too_long" and loc == ("body", "texts"):
            n = err.get("ctx", {}).get("actual_length", "more")
            msg = f"got {n} texts; the limit is {settings.max_texts} per request (max_texts)"
            return error(413, msg, limit="max_texts")
        if kind == "string_too_long" and len(loc) >= 2 and loc[1] in ("texts", "text"):
            where = f"text {loc[2]}" if len(loc) > 2 else "the text"
            msg = (
                f"{where} is longer than {settings.max_chars} characters, the API's transport "
                "limit per text (max_chars); shorten it"
            )
            return error(413, msg, limit="max_chars")
    issues = []
    for err in errors:
        # The offending input is not echoed back: it may be large, or not encodable.
        issue = {k: err[k] for k in ("loc", "msg", "type", "ctx") if k in err}
        issue = json.loads(json.dumps(issue, default=str))
        issue["loc"] = list(issue.get("loc", []))
        if issue["loc"] == ["body"]:
            issue["msg"] += '; send a JSON object such as {"texts": ["..."], "top_k": 3}'
        issues.append(issue)
    return invalid(issues)

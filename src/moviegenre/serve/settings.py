"""The HTTP API's settings: request limits, the model's thread pool, connection deadlines.

``max_chars`` is a transport limit (a request is refused with 413 above it), not the text
rule of :mod:`moviegenre.checks`, which truncates what it scores.
"""

from __future__ import annotations

from dataclasses import dataclass

from moviegenre.checks import TRANSPORT_MAX_CHARS
from moviegenre.errors import ConfigError


@dataclass(frozen=True)
class ApiSettings:
    """Request limits and the size of the thread pool that runs the model."""

    max_texts: int = 64
    #: Transport limit, not a text rule: characters per text a request may carry (413
    #: beyond); the text rule (truncation at ``checks.MAX_CHARS``) applies after it.
    max_chars: int = TRANSPORT_MAX_CHARS
    max_body_bytes: int = 2_000_000
    workers: int = 2
    #: Texts scored in one model call, at most (a larger request is split across calls).
    batch_texts: int = 64
    #: Requests of at most this many texts are "small": a lane of their own, served first.
    small_texts: int = 8
    #: A predict request that would wait longer than this for the model gets 503 + Retry-After.
    max_queue_seconds: float = 10.0
    #: Seconds a connection may wait for the first byte of a request, fresh or kept alive.
    timeout_keep_alive: float = 5.0
    #: Seconds from a request's first byte to its last (headers and body), else it is dropped.
    timeout_request: float = 30.0
    #: Requests in the app at once, at most; beyond it 503 + Retry-After (idle connections
    #: do not count).
    limit_concurrency: int = 256
    #: Open connections at most; beyond it the longest-waiting idle one is closed.
    max_connections: int = 1000
    #: One log line per request on stderr (``moviegenre.access``); off by default.
    access_log: bool = False

    def __post_init__(self) -> None:
        for name in ("max_texts", "max_chars", "max_body_bytes", "workers", "batch_texts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ApiSettings.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("limit_concurrency", "max_connections", "small_texts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("timeout_keep_alive", "timeout_request", "max_queue_seconds"):
            if not 0 < getattr(self, name) <= 3600:
                raise ConfigError(f"{name} must be in (0, 3600] seconds, got {getattr(self, name)}")

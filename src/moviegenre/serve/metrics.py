"""What an operator sees of the API: Prometheus metrics (``GET /metrics``) and an access log.

Each app has a registry of its own, so two apps in one process (tests, an embedding service)
never add to each other's counts. The route label is the route's template (``/v1/predict``),
or ``other`` for a path the app does not serve, so scanners cannot grow the label set.
The access log (``serve --access-log``) is one line per request on the ``moviegenre.access``
logger: client, method, path, status, milliseconds; the path is escaped, so a client cannot
forge log lines.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

ACCESS_LOGGER = "moviegenre.access"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
#: The status counted for a request whose client went away before it was answered.
CLIENT_LEFT = 499


class ServerMetrics:
    """The API's counters, gauges and histograms, in a registry of their own."""

    def __init__(self) -> None:
        #: The app's paths: a request answered before routing (a body over the limit, a 503
        #: at the door) is counted under its path if it is one of these, else as ``other``.
        self.paths: frozenset[str] = frozenset()
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "moviegenre_http_requests",
            "HTTP requests, by route, method and status (errors: status >= 400; 499: the "
            "client left before the answer).",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "moviegenre_http_request_duration_seconds",
            "Seconds from a request's arrival in the app to the end of its response, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "moviegenre_http_requests_in_flight", "Requests in the app now.", registry=registry
        )
        self.shed = Counter(
            "moviegenre_shed_requests",
            "Requests refused with 503 + Retry-After, by reason: 'concurrency' "
            "(limit_concurrency requests in the app) or 'queue' (too much work queued).",
            ["reason"],
            registry=registry,
        )
        self.call_rows = Histogram(
            "moviegenre_model_call_rows",
            "Texts scored per model call, by lane (small or large requests).",
            ["lane"],
            buckets=ROW_BUCKETS,
            registry=registry,
        )
        self.call_seconds = Histogram(
            "moviegenre_model_call_seconds",
            "Seconds per model call, by lane.",
            ["lane"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_rows = Gauge(
            "moviegenre_queue_rows",
            "Texts waiting for a model call, by lane.",
            ["lane"],
            registry=registry,
        )
        self.jobs = Gauge(
            "moviegenre_unbatched_jobs",
            "Explanation and coverage-set jobs waiting for a worker or running.",
            registry=registry,
        )
        self.connections = Gauge(
            "moviegenre_open_connections", "Open client connections.", registry=registry
        )
        self.evicted = Counter(
            "moviegenre_evicted_connections",
            "Connections closed to make room for a new one at max_connections "
            "(the longest-waiting idle one).",
            registry=registry,
        )

    def watch_queue(self, queued: dict[str, int]) -> None:
        """Report ``queued`` (lane -> texts, kept current by its owner) at each scrape."""
        for lane in queued:
            self.queue_rows.labels(lane).set_function(lambda lane=lane: queued[lane])

    def watch_connections(self, count: Callable[[], int]) -> None:
        self.connections.set_function(count)

    def watch_jobs(self, count: Callable[[], int]) -> None:
        self.jobs.set_function(count)

    def on_call(self, lane: str, rows: int, seconds: float) -> None:
        self.call_rows.labels(lane).observe(rows)
        self.call_seconds.labels(lane).observe(seconds)

    def on_shed(self, reason: str) -> None:
        self.shed.labels(reason).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text format of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _route(scope: dict, paths: frozenset[str]) -> str:
    route = getattr(scope.get("route"), "path", None)
    if route is None and scope.get("path") in paths:
        route = scope["path"]
    return route or "other"


class Observe:
    """ASGI middleware: counts and times every request; one access-log line each if asked."""

    def __init__(self, app: Any, metrics: ServerMetrics, access_log: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.log = logging.getLogger(ACCESS_LOGGER) if access_log else None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 0
        start = time.perf_counter()

        async def watch(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, watch)
        except BaseException:
            status = status or 500  # what the server answers for an exception
            raise
        finally:
            # No answer and no exception: the client left first (nginx's 499).
            status = status or CLIENT_LEFT
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - start
            route = _route(scope, self.metrics.paths)
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(seconds)
            if self.log is not None:
                self._log(scope, status, seconds)

    def _log(self, scope: dict, status: int, seconds: float) -> None:
        host, port = scope.get("client") or ("-", 0)
        path = json.dumps(scope.get("path", ""))[1:-1]  # control characters escaped
        method = json.dumps(scope["method"])[1:-1]
        self.log.info(  # type: ignore[union-attr]
            '%s:%s "%s %s" %d %.1fms', host, port, method, path, status, seconds * 1000
        )


def log_config(access_log: bool) -> dict[str, Any]:
    """uvicorn's logging, plus the access log's logger on stderr when it is asked for."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    if access_log:
        config["formatters"]["moviegenre"] = {"format": "%(asctime)s %(message)s"}
        config["handlers"]["moviegenre"] = {
            "class": "logging.StreamHandler",
            "formatter": "moviegenre",
            "stream": "ext://sys.stderr",  # stdout carries results only
        }
        config["loggers"][ACCESS_LOGGER] = {
            "handlers": ["moviegenre"],
            "level": "INFO",
            "propagate": False,
        }
    return config


__all__ = ["ACCESS_LOGGER", "Observe", "ServerMetrics", "log_config"]

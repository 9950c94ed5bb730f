"""The HTTP API: FastAPI over a GenreClassifier (``moviegenre serve``).

Endpoints: POST /v1/predict (a batch; a refused text gets its own error, the batch still
succeeds), POST /v1/explain, GET /v1/model, GET /healthz; OpenAPI docs at /docs.
Limits (texts per request, characters per text, body bytes) are answered with 413 and a message
naming the limit; any other bad input (a JSON key sent twice included) with 422. Model calls run
in a small thread pool, off the event loop; concurrent /v1/predict requests share model calls
(``serve.batching.MicroBatcher``). A multi-label model (``GET /v1/model`` says ``multi_label``)
also answers each text's assigned genres (``labels``), and its genre sets are asked for with
``recall`` (conformal risk control) where a single-label model's are asked for with ``coverage``;
the other one is refused with 422 naming the field to use. A full server answers 503 with
Retry-After: too many requests in the app at once (``Admission``) or too much work queued for
the model (``Overloaded``).

Built from :mod:`~moviegenre.serve.settings` (ApiSettings), :mod:`~moviegenre.serve.schemas`
(bodies), :mod:`~moviegenre.serve.limits` (refusals), :mod:`~moviegenre.serve.endpoints`,
:mod:`~moviegenre.serve.batching`, :mod:`~moviegenre.serve.connections` and
:mod:`~moviegenre.serve.metrics`; this module assembles the app and runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from moviegenre._util import bind_socket
from moviegenre._version import __version__
from moviegenre.classifier import GenreClassifier
from moviegenre.serve.batching import Admission, Backlog, MicroBatcher, WorkerPool
from moviegenre.serve.connections import ConnectionTable, descriptor_cap, guarded_protocol
from moviegenre.serve.endpoints import Served, add_endpoints
from moviegenre.serve.limits import BodyLimit, SafeJSONResponse, StrictJSONRoute, busy
from moviegenre.serve.metrics import Observe, ServerMetrics, log_config
from moviegenre.serve.schemas import request_models
from moviegenre.serve.settings import ApiSettings


def create_app(
    classifier: GenreClassifier | None = None, settings: ApiSettings | None = None
) -> FastAPI:
    """Build the API around ``classifier`` (default: ``GenreClassifier.load()``, loaded once)."""
    settings = settings or ApiSettings()
    clf = classifier if classifier is not None else GenreClassifier.load()
    n_genres = len(clf.genres)
    multi_label = bool(clf.info.multi_label)
    pool = WorkerPool(settings.workers)
    metrics = ServerMetrics()
    batcher = MicroBatcher(
        clf,
        pool,
        settings.workers,
        max_rows=settings.batch_texts,
        small_rows=settings.small_texts,
        max_wait=settings.max_queue_seconds,
        on_call=metrics.on_call,
    )
    metrics.watch_queue(batcher.queued)
    backlog = Backlog(pool, settings.max_queue_seconds)  # explanations and coverage sets
    metrics.watch_jobs(lambda: backlog.jobs)

    predict_request, explain_request = request_models(settings, n_genres, multi_label)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        yield
        pool.shutdown()

    app = FastAPI(
        title="moviegenre",
        version=__version__,
        description="Genres of English movie descriptions, with probabilities and explanations.",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    app.state.classifier = clf
    app.state.settings = settings
    app.state.batcher = batcher
    app.state.backlog = backlog
    app.state.metrics = metrics
    app.router.route_class = StrictJSONRoute
    # Outermost last: Observe sees every answer, the 503s of Admission included.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        Admission, limit=settings.limit_concurrency, busy=busy, on_shed=metrics.on_shed
    )
    app.add_middleware(Observe, metrics=metrics, access_log=settings.access_log)

    served = Served(clf, settings, batcher, backlog, metrics, predict_request, explain_request)
    add_endpoints(app, served)
    metrics.paths = frozenset(getattr(route, "path", "") for route in app.routes)

    return app


def server_config(app: Any, host: str, port: int, settings: ApiSettings, log_level: str) -> Any:
    """The uvicorn Config of ``serve``: deadlines and a cap for connections (see
    ``serve.connections``); the concurrency limit is the app's (``Admission``), not uvicorn's,
    which would count idle connections too."""
    import uvicorn

    metrics: ServerMetrics | None = getattr(getattr(app, "state", None), "metrics", None)
    table = ConnectionTable(
        descriptor_cap(settings.max_connections), metrics.evicted.inc if metrics else None
    )
    if metrics is not None:
        metrics.watch_connections(lambda: len(table.open))
    protocol = guarded_protocol(settings.timeout_keep_alive, settings.timeout_request, table)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=log_config(settings.access_log),
        access_log=False,  # uvicorn's goes to stdout; ours (Observe) to stderr
        http=protocol,
        timeout_keep_alive=settings.timeout_keep_alive,  # type: ignore[arg-type]
        limit_concurrency=None,
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    model: str | None = None,
    settings: ApiSettings | None = None,
    log_level: str = "warning",
    *,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Load the model once, take the port, then run the API with uvicorn until interrupted.

    ``announce(url)`` is called only once both worked, so nothing says "serving" too early.
    """
    import uvicorn

    settings = settings or ApiSettings()
    app = create_app(GenreClassifier.load(model), settings)
    with bind_socket(host, port) as sock:
        if announce is not None:
            announce(f"http://{host}:{port}")
        server = uvicorn.Server(server_config(app, host, port, settings, log_level))
        server.run(sockets=[sock])


__all__ = ["Admission", "ApiSettings", "BodyLimit", "create_app", "serve", "server_config"]

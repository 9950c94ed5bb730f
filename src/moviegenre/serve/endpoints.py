"""The API's endpoints: POST /v1/predict, POST /v1/explain, GET /v1/model, GET /healthz and
GET /metrics, and the handlers that turn errors into answers. Each endpoint is a few lines over
the classifier; :func:`add_endpoints` registers them on an app built by ``create_app``.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations, and the
# request bodies are classes built per app (``schemas.request_models``).
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from moviegenre._version import __version__
from moviegenre.checks import TextCheck, check_text
from moviegenre.classifier import GenreClassifier
from moviegenre.errors import MovieGenreError
from moviegenre.explain import Explanation
from moviegenre.results import predictions_payload
from moviegenre.serve.batching import Backlog, MicroBatcher, Overloaded
from moviegenre.serve.limits import busy, invalid, validation_response
from moviegenre.serve.metrics import ServerMetrics
from moviegenre.serve.schemas import (
    ERRORS,
    ExplainResponse,
    Health,
    ModelResponse,
    PredictResponse,
)
from moviegenre.serve.settings import ApiSettings

T = TypeVar("T")


@dataclass(frozen=True)
class Served:
    """What the endpoints answer with: the model, the app's settings and its serving parts."""

    clf: GenreClassifier
    settings: ApiSettings
    batcher: MicroBatcher
    backlog: Backlog
    metrics: ServerMetrics
    predict_request: type[BaseModel]
    explain_request: type[BaseModel]


def add_endpoints(app: FastAPI, served: Served) -> None:
    """Register the error handlers and the endpoints of ``served`` on ``app``."""
    clf, settings, metrics, batcher = served.clf, served.settings, served.metrics, served.batcher
    multi_label = bool(clf.info.multi_label)
    PredictRequest, ExplainRequest = served.predict_request, served.explain_request

    async def off_loop(fn: Callable[[], T]) -> T:
        return await served.backlog.run(fn)

    @app.exception_handler(RequestValidationError)
    async def oninvalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc, settings)

    @app.exception_handler(Overloaded)
    async def on_overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        metrics.on_shed("queue")
        return busy(exc.detail, exc.retry_after)

    @app.exception_handler(MovieGenreError)
    async def on_refused(_: Request, exc: MovieGenreError) -> JSONResponse:
        return invalid([{"loc": ["body"], "msg": str(exc), "type": "value_error"}])

    @app.post(
        "/v1/predict",
        response_model=PredictResponse,
        response_model_exclude_unset=True,  # "set" only when asked for, as in the CLI
        responses=ERRORS,
    )
    async def predict(body: PredictRequest) -> PredictResponse:
        """Top genres of each text (and, for a multi-label model, its assigned genres); a
        refused text gets an ``error`` and the rest still score."""
        if body.coverage is None and body.recall is None:
            results = await batcher.classify(body.texts, body.top_k)
        else:  # sets need the request's own level: one model call of its own
            level = {"recall": body.recall} if multi_label else {"coverage": body.coverage}
            results = await off_loop(partial(clf.classify, body.texts, top_k=body.top_k, **level))
        return PredictResponse.model_validate(predictions_payload(clf.name, results))

    @app.post("/v1/explain", response_model=ExplainResponse, responses=ERRORS)
    async def explain(body: ExplainRequest) -> ExplainResponse | JSONResponse:
        """Top genres of one text and each word's signed weight toward the first."""

        def run() -> Explanation | TextCheck:
            verdict = check_text(body.text, clf.checks)  # first, to answer with its code
            return clf.explain(body.text, top_k=body.top_k) if verdict.ok else verdict

        result = await off_loop(run)
        if isinstance(result, TextCheck):
            problem = f"cannot explain this text: {result.problem}"
            issue = {"loc": ["body", "text"], "msg": problem, "type": result.code}
            return invalid([issue], code=result.code)
        return ExplainResponse(**result.to_dict())

    @app.get("/v1/model", response_model=ModelResponse)
    async def model_info() -> ModelResponse:
        """The served model: name, kind, version, genres and test metrics."""
        info = clf.info
        return ModelResponse(
            name=info.name,
            kind=info.kind,
            version=info.moviegenre_version,
            server_version=__version__,
            created=info.created,
            genres=list(info.genres),
            multi_label=bool(info.multi_label),
            metrics=json.loads(json.dumps(info.metrics, default=str)),
        )

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        """Liveness: the model is loaded and the server answers."""
        return Health(status="ok")

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        """Prometheus metrics: requests by route and status, latency, model calls, queue."""
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

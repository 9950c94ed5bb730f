"""The HTTP API: FastAPI over a GenreClassifier (``moviegenre serve``).

Endpoints: POST /v1/predict (a batch; a refused text gets its own error, the batch still
succeeds), POST /v1/explain, GET /v1/model, GET /healthz; OpenAPI docs at /docs.
Limits (texts per request, characters per text, body bytes) are answered with 413 and a message
naming the limit; any other bad input (a JSON key sent twice included) with 422. Model calls run
in a small thread pool, off the event loop; concurrent /v1/predict requests share model calls
(``serve_batching.MicroBatcher``). A multi-label model (``GET /v1/model`` says ``multi_label``)
also answers each text's assigned genres (``labels``), and its genre sets are asked for with
``recall`` (conformal risk control) where a single-label model's are asked for with ``coverage``;
the other one is refused with 422 naming the field to use. A full server answers 503 with
Retry-After: too many requests in the app at once (``Admission``) or too much work queued for
the model (``Overloaded``).
"""

# No ``from __future__ import annotations``: FastAPI must resolve the request models, which
# are built inside create_app because their limits are settings.
import json
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from moviegenre._util import bind_socket
from moviegenre._version import __version__
from moviegenre.checks import MIN_WORDS, TRANSPORT_MAX_CHARS, TextCheck, check_text
from moviegenre.classifier import GenreClassifier
from moviegenre.errors import ConfigError, MovieGenreError
from moviegenre.explain import Explanation
from moviegenre.results import DECIMALS, predictions_payload
from moviegenre.serve_batching import Admission, Backlog, MicroBatcher, Overloaded, WorkerPool
from moviegenre.serve_connections import ConnectionTable, descriptor_cap, guarded_protocol
from moviegenre.serve_metrics import Observe, ServerMetrics, log_config

T = TypeVar("T")


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


# -- response bodies -------------------------------------------------------------------------


#: A float rounded to DECIMALS places in responses (probabilities and word weights).
Rounded = Annotated[float, AfterValidator(lambda value: round(value, DECIMALS))]


class GenreScore(BaseModel):
    genre: str
    probability: Rounded = Field(description="Rounded to 6 decimals.")


class PredictItem(BaseModel):
    """One text's genres, or (``error`` and ``code``) why it was refused: ``Prediction.to_dict``,
    as ``moviegenre predict --json`` prints it."""

    genres: list[GenreScore]
    error: str | None
    code: str | None = Field(description="too_short, not_english, empty, ...")
    truncated: bool
    labels: list[GenreScore] | None = Field(
        None,
        description="Multi-label models only (present for them, absent otherwise): the genres "
        "assigned to the text, each at or above its decision threshold and at least the most "
        "probable one, most probable first. `genres` is then the top-k ranking of independent "
        "per-genre probabilities, which do not sum to 1.",
    )
    set: list[GenreScore] | None = Field(
        None,
        description="The genre set asked for, most probable first; present only with "
        "`coverage` (single-label models: holds the true genre at that rate) or `recall` "
        "(multi-label models: holds that mean share of a film's true genres); null for a "
        "refused text.",
    )


class PredictResponse(BaseModel):
    """``moviegenre.results.predictions_payload``: the model's name, one result per text."""

    model: str
    results: list[PredictItem]


class WordOut(BaseModel):
    word: str
    start: int = Field(description="Character offset of the word in the submitted text.")
    end: int
    weight: Rounded = Field(
        description="Signed push toward the top genre (6 decimals): exact tf-idf x weight for "
        "'weights', log-odds for 'banzhaf'."
    )
    noise: Rounded = Field(description="Half-width of the weight's 95% noise band (0: exact).")
    significant: bool = Field(
        description="False when the weight lies inside its noise band: show it as neutral."
    )


class ExplainResponse(BaseModel):
    genre: str
    genres: list[GenreScore]
    method: str = Field(description="'weights' (the model's own) or 'banzhaf' (sampled).")
    truncated: bool
    words: list[WordOut]


class ModelResponse(BaseModel):
    name: str
    kind: str
    version: str = Field(description="moviegenre version that trained the model.")
    server_version: str
    created: str
    genres: list[str]
    multi_label: bool = Field(
        description="True: several genres per text (`labels`, sets by `recall`); false: one "
        "genre per text (probabilities sum to 1, sets by `coverage`)."
    )
    metrics: dict[str, Any]


class Health(BaseModel):
    status: str


class ErrorBody(BaseModel):
    """Why a request was refused; ``limit`` names the limit it broke, if any."""

    detail: str
    limit: str | None = None


class Issue(BaseModel):
    """One problem of a refused request, as FastAPI reports validation errors."""

    loc: list[str | int] = Field(description='Where, e.g. ["body", "texts", 0].')
    msg: str
    type: str = Field(description="e.g. missing, string_type, too_short, not_english.")
    ctx: dict[str, Any] | None = None


class InvalidBody(BaseModel):
    """FastAPI's 422 convention: ``detail`` lists the problems; ``code`` is a refused text's."""

    detail: list[Issue]
    code: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be decoded (send UTF-8 JSON)."},
    413: {"model": ErrorBody, "description": "A request limit was exceeded."},
    422: {"model": InvalidBody, "description": "The request or the text is invalid."},
}


# -- limits ----------------------------------------------------------------------------------


class SafeJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: a lone surrogate from the client cannot break the encoder."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode()


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    body = ErrorBody(detail=detail, **extra).model_dump(exclude_none=True)
    return SafeJSONResponse(body, status)


def _invalid(issues: list[dict[str, Any]], code: str | None = None) -> JSONResponse:
    """A 422 whose ``detail`` is the list of issues (``loc``, ``msg``, ``type``), as FastAPI's."""
    body = InvalidBody(detail=[Issue(**i) for i in issues], code=code)
    return SafeJSONResponse(body.model_dump(exclude_none=True), 422)


class BodyLimit:
    """ASGI middleware: refuse bodies over ``max_bytes`` (declared or streamed) with 413."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_big(self, size: str) -> JSONResponse:
        return _error(
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


def _busy(detail: str, retry_after: int) -> JSONResponse:
    response = _error(503, detail)
    response.headers["Retry-After"] = str(retry_after)
    return response


def _repeated_key(body: bytes) -> str | None:
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
            key = _repeated_key(body) if body else None
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


def _validation_response(exc: RequestValidationError, settings: ApiSettings) -> JSONResponse:
    """413 for the per-request limits, else a 422 whose message lists what was wrong."""
    errors = exc.errors()
    for err in errors:
        loc, kind = tuple(err.get("loc", ())), err.get("type")
        if kind == "too_long" and loc == ("body", "texts"):
            n = err.get("ctx", {}).get("actual_length", "more")
            msg = f"got {n} texts; the limit is {settings.max_texts} per request (max_texts)"
            return _error(413, msg, limit="max_texts")
        if kind == "string_too_long" and len(loc) >= 2 and loc[1] in ("texts", "text"):
            where = f"text {loc[2]}" if len(loc) > 2 else "the text"
            msg = (
                f"{where} is longer than {settings.max_chars} characters, the API's transport "
                "limit per text (max_chars); shorten it"
            )
            return _error(413, msg, limit="max_chars")
    issues = []
    for err in errors:
        # The offending input is not echoed back: it may be large, or not encodable.
        issue = {k: err[k] for k in ("loc", "msg", "type", "ctx") if k in err}
        issue = json.loads(json.dumps(issue, default=str))
        issue["loc"] = list(issue.get("loc", []))
        if issue["loc"] == ["body"]:
            issue["msg"] += '; send a JSON object such as {"texts": ["..."], "top_k": 3}'
        issues.append(issue)
    return _invalid(issues)


#: The 422 messages of a set asked for with the field of the other kind of model.
MULTI_LABEL_COVERAGE = (
    "coverage is for single-label models; this model is multi-label: ask for its genre sets "
    'with "recall" (the mean share of a film\'s genres a set holds), or send no coverage'
)
SINGLE_LABEL_RECALL = (
    "recall is for multi-label models; this model gives one genre per text: ask for its "
    'genre sets with "coverage", or send no recall'
)
#: What ``coverage`` and ``recall`` ask for, in the request schema.
COVERAGE_DOC = (
    "Single-label models: also return each text's conformal genre set, which holds the true "
    "genre for this share of texts like the training data (marginal coverage)."
)
RECALL_DOC = (
    "Multi-label models: also return each text's genre set, which holds this mean share of a "
    "film's true genres on texts like the training data (conformal risk control)."
)


def _set_level(doc: str, refusal: str | None) -> Any:
    """The type of a request's ``coverage`` or ``recall``: a level strictly between 0 and 1,
    or, where the served model takes the other field, null only, anything else refused with
    ``refusal`` (one 422 line naming the field to use). So the served OpenAPI document is
    true for the served model, and generated "valid" requests are valid."""
    if refusal is None:
        return Annotated[float | None, Field(gt=0, lt=1, description=doc)]

    def refuse(value: Any) -> None:
        if value is not None:
            raise PydanticCustomError("not_for_this_model", refusal)

    return Annotated[None, BeforeValidator(refuse), Field(description=f"{doc} {refusal}")]


# -- the app ---------------------------------------------------------------------------------


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

    Text = Annotated[str, Field(max_length=settings.max_chars)]
    TopK = Annotated[int, Field(ge=1, le=n_genres, description="Genres per text.")]
    Coverage = _set_level(COVERAGE_DOC, MULTI_LABEL_COVERAGE if multi_label else None)
    Recall = _set_level(RECALL_DOC, None if multi_label else SINGLE_LABEL_RECALL)

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        texts: list[Text] = Field(
            min_length=1,
            max_length=settings.max_texts,
            description=(
                f"1 to {settings.max_texts} English descriptions, each of {MIN_WORDS}+ words."
            ),
        )
        top_k: TopK = 3
        coverage: Coverage = None
        recall: Recall = None

    class ExplainRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: Text
        top_k: TopK = 3

    async def off_loop(fn: Callable[[], T]) -> T:
        return await backlog.run(fn)

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
        Admission, limit=settings.limit_concurrency, busy=_busy, on_shed=metrics.on_shed
    )
    app.add_middleware(Observe, metrics=metrics, access_log=settings.access_log)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc, settings)

    @app.exception_handler(Overloaded)
    async def on_overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        metrics.on_shed("queue")
        return _busy(exc.detail, exc.retry_after)

    @app.exception_handler(MovieGenreError)
    async def on_refused(_: Request, exc: MovieGenreError) -> JSONResponse:
        return _invalid([{"loc": ["body"], "msg": str(exc), "type": "value_error"}])

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
            return _invalid([issue], code=result.code)
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

    metrics.paths = frozenset(getattr(route, "path", "") for route in app.routes)

    return app


def server_config(app: Any, host: str, port: int, settings: ApiSettings, log_level: str) -> Any:
    """The uvicorn Config of ``serve``: deadlines and a cap for connections (see
    ``serve_connections``); the concurrency limit is the app's (``Admission``), not uvicorn's,
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

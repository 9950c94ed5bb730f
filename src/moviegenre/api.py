"""The HTTP API: FastAPI over a GenreClassifier (``moviegenre serve``).

Endpoints: POST /v1/predict (a batch; a refused text gets its own error, the batch still
succeeds), POST /v1/explain, GET /v1/model, GET /healthz; OpenAPI docs at /docs.
Limits (texts per request, characters per text, body bytes) are answered with 413 and a message
naming the limit; any other bad input with 422. Model calls run in a small thread pool, off the
event loop; concurrent /v1/predict requests share model calls (``MicroBatcher``).
"""

# No ``from __future__ import annotations``: FastAPI must resolve the request models, which
# are built inside create_app because their limits are settings.
import asyncio
import json
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from moviegenre._util import bind_socket
from moviegenre._version import __version__
from moviegenre.checks import MIN_WORDS, TextCheck, check_text
from moviegenre.classifier import GenreClassifier, Prediction
from moviegenre.errors import ConfigError, MovieGenreError
from moviegenre.explain import Explanation

T = TypeVar("T")
#: Probabilities and weights are rounded in responses: more digits are noise.
DECIMALS = 6


@dataclass(frozen=True)
class ApiSettings:
    """Request limits and the size of the thread pool that runs the model."""

    max_texts: int = 64
    max_chars: int = 5_000
    max_body_bytes: int = 2_000_000
    workers: int = 2
    #: Texts of concurrent /v1/predict requests scored in one model call, at most.
    batch_texts: int = 256
    #: Seconds an idle keep-alive connection stays open (uvicorn's timeout_keep_alive).
    timeout_keep_alive: float = 5.0
    #: Seconds a client has to send a whole request (headers and body), else it is dropped.
    timeout_request: float = 30.0
    #: Open connections plus running requests at most; beyond it uvicorn answers 503.
    limit_concurrency: int = 256

    def __post_init__(self) -> None:
        for name in ("max_texts", "max_chars", "max_body_bytes", "workers", "batch_texts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ApiSettings.{name} must be >= 1, got {getattr(self, name)}")
        if self.limit_concurrency < 1:
            raise ConfigError(f"limit_concurrency must be >= 1, got {self.limit_concurrency}")
        for name in ("timeout_keep_alive", "timeout_request"):
            if not 0 < getattr(self, name) <= 3600:
                raise ConfigError(f"{name} must be in (0, 3600] seconds, got {getattr(self, name)}")


# -- response bodies -------------------------------------------------------------------------


#: A float rounded to DECIMALS places in responses (probabilities and word weights).
Rounded = Annotated[float, AfterValidator(lambda value: round(value, DECIMALS))]


class GenreScore(BaseModel):
    genre: str
    probability: Rounded = Field(description="Rounded to 6 decimals.")


class PredictItem(BaseModel):
    """One text's genres, or (``error`` and ``code``) why it was refused."""

    genres: list[GenreScore]
    error: str | None = None
    code: str | None = Field(None, description="too_short, not_english, empty, ...")
    truncated: bool = False
    set: list[GenreScore] | None = Field(
        None, description="The genre set at the requested coverage (only with `coverage`)."
    )


class PredictResponse(BaseModel):
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
    metrics: dict[str, Any]


class Health(BaseModel):
    status: str


class ErrorBody(BaseModel):
    """Why a request was refused; ``limit`` names the limit it broke, if any."""

    detail: str
    limit: str | None = None
    code: str | None = None
    errors: list[dict[str, Any]] | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be decoded (send UTF-8 JSON)."},
    413: {"model": ErrorBody, "description": "A request limit was exceeded."},
    422: {"model": ErrorBody, "description": "The request or the text is invalid."},
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
                f"{where} is longer than {settings.max_chars} characters, the limit per text "
                "(max_chars); shorten it"
            )
            return _error(413, msg, limit="max_chars")
    parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors]
    if any(tuple(e.get("loc", ())) == ("body",) for e in errors):
        parts.append('send a JSON object such as {"texts": ["..."], "top_k": 3}')
    # The offending input is not echoed back: it may be large, or not encodable.
    clean = [{k: v for k, v in e.items() if k not in ("input", "url")} for e in errors]
    clean = json.loads(json.dumps(clean, default=str))
    return _error(422, "invalid request: " + "; ".join(parts[:5]), errors=clean)


# -- batching --------------------------------------------------------------------------------


class WorkerPool:
    """The model's worker threads, (re)started on demand.

    An app's lifespan may run more than once (each test client, each ASGI transport), and
    the end of one must not leave later requests with a shut-down executor.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None

    def get(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="moviegenre")
        return self._pool

    def shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class MicroBatcher:
    """Scores the texts of requests that arrive while the model is busy in one ``classify`` call.

    Nothing waits for a batch to fill: a request that finds a free slot runs at once, so a
    lone request pays no delay, while under load per-call overhead is shared by many requests.
    """

    def __init__(
        self, classifier: GenreClassifier, pool: WorkerPool, slots: int, max_texts: int
    ) -> None:
        self.classifier = classifier
        self.pool = pool
        self.slots = slots
        self.max_texts = max_texts
        self.active = 0
        self.calls = 0
        self.pending: deque[tuple[list[str], int, asyncio.Future]] = deque()
        self._tasks: set[asyncio.Task] = set()

    async def classify(self, texts: list[str], top_k: int) -> list[Prediction]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self.pending.append((texts, top_k, future))
        if self.active < self.slots:
            self.active += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    def _take(self) -> list[tuple[list[str], int, asyncio.Future]]:
        batch, size = [], 0
        while self.pending and (not batch or size + len(self.pending[0][0]) <= self.max_texts):
            batch.append(self.pending.popleft())
            size += len(batch[-1][0])
        return batch

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while batch := self._take():
                texts = [text for item in batch for text in item[0]]
                top_k = max(item[1] for item in batch)
                self.calls += 1
                try:
                    results = await loop.run_in_executor(
                        self.pool.get(), partial(self.classifier.classify, texts, top_k=top_k)
                    )
                except Exception as exc:  # handed to each request; the handlers answer it
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                start = 0
                for item_texts, k, future in batch:
                    part = results[start : start + len(item_texts)]
                    start += len(item_texts)
                    for result in part:
                        result.genres = result.genres[:k]
                    if not future.done():  # a client that went away cancelled its future
                        future.set_result(part)
        finally:
            self.active -= 1


# -- the app ---------------------------------------------------------------------------------


def create_app(
    classifier: GenreClassifier | None = None, settings: ApiSettings | None = None
) -> FastAPI:
    """Build the API around ``classifier`` (default: ``GenreClassifier.load()``, loaded once)."""
    settings = settings or ApiSettings()
    clf = classifier if classifier is not None else GenreClassifier.load()
    n_genres = len(clf.genres)
    pool = WorkerPool(settings.workers)
    batcher = MicroBatcher(clf, pool, settings.workers, settings.batch_texts)

    Text = Annotated[str, Field(max_length=settings.max_chars)]
    TopK = Annotated[int, Field(ge=1, le=n_genres, description="Genres per text.")]

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
        coverage: float | None = Field(
            None,
            gt=0,
            lt=1,
            description="Also return each text's conformal genre set, which holds the true "
            "genre for this share of texts like the training data (marginal coverage).",
        )

    class ExplainRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: Text
        top_k: TopK = 3

    async def off_loop(fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool.get(), fn)

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
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc, settings)

    @app.exception_handler(MovieGenreError)
    async def on_refused(_: Request, exc: MovieGenreError) -> JSONResponse:
        return _error(422, str(exc))

    @app.post("/v1/predict", response_model=PredictResponse, responses=ERRORS)
    async def predict(body: PredictRequest) -> PredictResponse:
        """Top genres of each text; a refused text gets an ``error`` and the rest still score."""
        if body.coverage is None:
            results = await batcher.classify(body.texts, body.top_k)
        else:  # sets need the request's own coverage: one model call of its own
            run = partial(clf.classify, body.texts, top_k=body.top_k, coverage=body.coverage)
            results = await off_loop(run)
        items = [PredictItem(**r.to_dict()) for r in results]
        return PredictResponse(model=clf.name, results=items)

    @app.post("/v1/explain", response_model=ExplainResponse, responses=ERRORS)
    async def explain(body: ExplainRequest) -> ExplainResponse | JSONResponse:
        """Top genres of one text and each word's signed weight toward the first."""

        def run() -> Explanation | TextCheck:
            verdict = check_text(body.text, clf.checks)  # first, to answer with its code
            return clf.explain(body.text, top_k=body.top_k) if verdict.ok else verdict

        result = await off_loop(run)
        if isinstance(result, TextCheck):
            return _error(422, f"cannot explain this text: {result.problem}", code=result.code)
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
            metrics=json.loads(json.dumps(info.metrics, default=str)),
        )

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        """Liveness: the model is loaded and the server answers."""
        return Health(status="ok")

    return app


def timed_protocol(timeout: float) -> type:
    """uvicorn's HTTP protocol plus a deadline: ``timeout`` s to send a whole request.

    uvicorn closes idle keep-alive connections, but not one whose headers or body trickle in
    (or never come), so a few hundred half-sent requests could hold every file descriptor.
    The clock starts when the connection opens and again after each response; it is ignored
    while the app is answering a request it has fully received.
    """
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class TimedHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        _read_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
            self._read_timer = self.loop.call_later(timeout, self._expire)

        def _expire(self) -> None:
            cycle = self.cycle
            reading = cycle is None or cycle.response_complete or cycle.more_body
            if reading and not self.transport.is_closing():
                self.transport.close()

    return TimedHTTPProtocol


def server_config(app: Any, host: str, port: int, settings: ApiSettings, log_level: str) -> Any:
    """The uvicorn Config of ``serve``: the connection timeouts and concurrency limit."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        http=timed_protocol(settings.timeout_request),
        timeout_keep_alive=settings.timeout_keep_alive,  # type: ignore[arg-type]
        limit_concurrency=settings.limit_concurrency,
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


__all__ = ["ApiSettings", "BodyLimit", "MicroBatcher", "create_app", "serve", "server_config"]

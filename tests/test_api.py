"""The HTTP API: every endpoint, every limit, and a schemathesis run for 5xx and schema breaks."""

from __future__ import annotations

import pytest
import schemathesis
from conftest import run_cli, tiny_multi_rows, tiny_rows
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from moviegenre import ConfigError, GenreClassifier
from moviegenre.serve.api import ApiSettings, create_app

FRENCH = (
    "Un homme rentre chez lui après la guerre et découvre que sa famille a disparu sans laisser "
    "de trace dans la petite ville où il est né et a grandi depuis son enfance"
)
JSON = {"content-type": "application/json"}
LIMITS = ApiSettings(max_texts=4, max_chars=400, max_body_bytes=4_000)


@pytest.fixture(scope="module")
def classifier(tiny_model_dir) -> GenreClassifier:
    return GenreClassifier.load(tiny_model_dir)


@pytest.fixture(scope="module")
def app(classifier: GenreClassifier) -> FastAPI:
    return create_app(classifier, LIMITS)


@pytest.fixture(scope="module")
def client(app: FastAPI):
    with TestClient(app) as test_client:
        yield test_client


def _issues(response) -> list[dict]:
    """The problems of a 422, checked to follow FastAPI's convention: ``detail`` is a list of
    ``{"loc": [...], "msg": "...", "type": "..."}`` (FastAPI's own 422 body)."""
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    for issue in detail:
        assert isinstance(issue["loc"], list) and issue["msg"] and issue["type"]
        assert set(issue) <= {"loc", "msg", "type", "ctx"}
    return detail


def texts(n: int) -> list[tuple[str, str]]:
    """(genre, description) pairs the tiny model classifies right."""
    return [(genre, text) for _, _, genre, text in tiny_rows(n, seed=9)]


def test_predict_batch_with_per_item_errors(client: TestClient) -> None:
    (genre, good), *_ = texts(1)
    body = {"texts": [good, "far too short", FRENCH, "   "], "top_k": 2}
    response = client.post("/v1/predict", json=body)
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["genres"][0]["genre"] == genre
    assert len(results[0]["genres"]) == 2 and results[0]["error"] is None
    assert [r["code"] for r in results[1:]] == ["too_short", "not_english", "empty"]
    assert all(r["genres"] == [] and r["error"] for r in results[1:])


def test_predict_default_top_k_is_three(client: TestClient) -> None:
    result = client.post("/v1/predict", json={"texts": [texts(1)[0][1]]}).json()["results"][0]
    assert len(result["genres"]) == 3
    assert sum(g["probability"] for g in result["genres"]) <= 1.0 + 1e-6
    assert all(g["probability"] == round(g["probability"], 6) for g in result["genres"])


def test_explain(client: TestClient) -> None:
    genre, text = texts(2)[1]
    response = client.post("/v1/explain", json={"text": text, "top_k": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["genre"] == genre and len(body["genres"]) == 1
    assert body["method"] == "weights"
    assert all(text[w["start"] : w["end"]] == w["word"] for w in body["words"])
    # exact weights: no noise band, every non-zero weight is significant
    assert all(w["noise"] == 0 and w["significant"] == (w["weight"] != 0) for w in body["words"])


@pytest.mark.parametrize(("text", "code"), [("too short", "too_short"), (FRENCH, "not_english")])
def test_explain_refuses_bad_text(client: TestClient, text: str, code: str) -> None:
    response = client.post("/v1/explain", json={"text": text})
    assert response.status_code == 422
    assert response.json()["code"] == code
    [issue] = response.json()["detail"]
    assert issue["loc"] == ["body", "text"] and issue["type"] == code
    assert issue["msg"].startswith("cannot explain this text")


def test_model_and_health(client: TestClient, classifier: GenreClassifier) -> None:
    model = client.get("/v1/model").json()
    assert model["genres"] == classifier.genres
    assert model["kind"] == "linear" and model["version"]
    assert "validation" in model["metrics"]
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/docs").status_code == 200
    assert "/v1/predict" in client.get("/openapi.json").json()["paths"]


def test_too_many_texts_is_413_naming_the_limit(client: TestClient) -> None:
    response = client.post("/v1/predict", json={"texts": ["a"] * 5})
    assert response.status_code == 413
    assert response.json()["limit"] == "max_texts"
    assert "got 5 texts; the limit is 4" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/predict", {"texts": ["ok", "x" * 401]}), ("/v1/explain", {"text": "x" * 401})],
)
def test_too_long_text_is_413_naming_the_limit(client: TestClient, path: str, body: dict) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 413
    assert response.json()["limit"] == "max_chars"
    assert "400 characters" in response.json()["detail"]


def test_declared_body_over_limit_is_413(client: TestClient) -> None:
    response = client.post("/v1/predict", content=b"x" * 4_001)
    assert response.status_code == 413
    assert response.json()["limit"] == "max_body_bytes"
    assert "4001 bytes" in response.json()["detail"]


def test_streamed_body_over_limit_is_413(client: TestClient) -> None:
    chunks = iter([b'{"texts": ["', b"x" * 3_000, b"y" * 3_000, b'"]}'])
    response = client.post("/v1/predict", content=chunks)  # chunked: no content-length
    assert response.status_code == 413
    assert response.json()["limit"] == "max_body_bytes"


def test_streamed_body_under_limit_is_read(client: TestClient) -> None:
    chunks = iter([b'{"texts": ["', b"short text", b'"]}'])
    response = client.post(
        "/v1/predict", content=chunks, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["results"][0]["code"] == "too_short"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"json": {"texts": []}}, "at least 1 item"),
        ({"json": {"texts": "one string"}}, "valid list"),
        ({"json": {"texts": [3]}}, "valid string"),
        ({"json": {"texts": ["a"], "top_k": 0}}, "greater than or equal to 1"),
        ({"json": {"texts": ["a"], "top_k": 6}}, "less than or equal to 5"),
        ({"json": {"texts": ["a"], "extra": 1}}, "Extra inputs"),
        ({"json": {}}, "Field required"),
        ({"content": b"{not json", "headers": JSON}, "JSON"),
        ({"json": ["a", "b"]}, "JSON object"),
        ({"content": '{"texts": ["\\ud800 lone surrogate"]}', "headers": JSON}, "unicode"),
    ],
)
def test_bad_requests_are_422_with_a_message(client: TestClient, kwargs: dict, fragment: str):
    response = client.post("/v1/predict", **kwargs)
    assert response.status_code == 422
    assert fragment in " ".join(issue["msg"] for issue in _issues(response))


def test_unparsable_body_is_400_not_500(client: TestClient) -> None:
    response = client.post("/v1/predict", content=b"[" * 3_000, headers=JSON)
    assert response.status_code == 400
    assert "parsing the body" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/predict", b'{"texts": ["a plot"], "texts": ["another plot"]}'),
        ("/v1/predict", b'{"texts": ["a plot"], "top_k": 1, "top_k": 2}'),
        ("/v1/explain", b'{"text": "a plot", "text": "another plot"}'),
    ],
)
def test_a_repeated_json_key_is_422(client: TestClient, path: str, body: bytes) -> None:
    """json.loads keeps the last of two equal keys; other parsers keep the first: refused."""
    response = client.post(path, content=body, headers=JSON)
    assert response.status_code == 422
    assert "appears more than once" in response.text


def test_an_overloaded_model_queue_is_503_with_retry_after(classifier: GenreClassifier):
    from moviegenre.serve.batching import Overloaded

    app = create_app(classifier, LIMITS)

    async def full(texts, top_k):
        raise Overloaded("the server is busy: retry in 7 s", 7)

    app.state.batcher.classify = full
    with TestClient(app) as test_client:
        response = test_client.post("/v1/predict", json={"texts": [texts(1)[0][1]]})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert "busy" in response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/explain", {"text": "a plot"}), ("/v1/predict", {"texts": ["a"], "coverage": 0.9})],
)
def test_a_long_backlog_of_explanations_is_503(classifier: GenreClassifier, path, body) -> None:
    """Old code queued every explanation or coverage job for a worker, however many waited."""
    app = create_app(classifier, LIMITS)
    app.state.backlog.jobs, app.state.backlog.job_seconds = 4, 10.0  # 20 s on 2 workers
    with TestClient(app) as test_client:
        response = test_client.post(path, json=body)
    assert response.status_code == 503 and response.headers["retry-after"] == "20"
    assert "explanation or coverage jobs are ahead" in response.text


def test_library_errors_become_422(classifier: GenreClassifier) -> None:
    """A MovieGenreError raised while scoring (here a ConfigError) is the client's 422."""

    class Refusing(GenreClassifier):
        def classify(self, *args, **kwargs):
            raise ConfigError("refused on purpose")

    refusing = Refusing(classifier.model, classifier.info, checks=classifier.checks)
    with TestClient(create_app(refusing, LIMITS)) as client:
        response = client.post("/v1/predict", json={"texts": ["a"]})
    assert response.status_code == 422
    assert _issues(response) == [
        {"loc": ["body"], "msg": "refused on purpose", "type": "value_error"}
    ]


def test_app_still_answers_after_a_lifespan_ended(classifier: GenreClassifier) -> None:
    """Each test client (and schemathesis' transport) runs the lifespan; its end shuts the
    worker threads down, and the next one must get fresh ones, not a 500."""
    app = create_app(classifier, LIMITS)
    body = {"texts": [texts(1)[0][1]], "top_k": 1}
    for _ in range(2):
        with TestClient(app) as client:
            assert client.post("/v1/predict", json=body).status_code == 200
            assert client.post("/v1/explain", json={"text": body["texts"][0]}).status_code == 200


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="max_texts"):
        ApiSettings(max_texts=0)


def test_create_app_loads_the_model_from_the_environment(tiny_model_dir, monkeypatch) -> None:
    monkeypatch.setenv("MOVIEGENRE_MODEL", str(tiny_model_dir))
    with TestClient(create_app()) as client:
        assert client.get("/v1/model").json()["kind"] == "linear"


# -- schemathesis: generated requests, valid and invalid, never a 5xx or a schema break ------


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode))
def test_schemathesis_finds_no_server_errors(app: FastAPI, mode) -> None:
    """Every operation, with schema-valid and schema-breaking requests, all default checks."""
    # Our limits answer 413, which is a rejection too (schemathesis expects 4xx but not 413).
    rejected = {"expected-statuses": [400, 413, 422]}
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": rejected}})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 4
    for operation in operations:
        # A schema-valid text can still be too short or not English: /v1/explain refuses it
        # with a documented 422, so "positive data must be accepted" does not hold there.
        excluded = [positive_data_acceptance] if operation.path == "/v1/explain" else []
        if mode == schemathesis.GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue  # no parameters: nothing to break
        fuzz(operation, mode, excluded)


def fuzz(operation, mode, excluded: list) -> None:
    """Send up to 25 generated requests to one operation and run every check on the answers."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        case.call_and_validate(excluded_checks=excluded)

    check()


# -- the real server ---------------------------------------------------------------------------


def test_serve_command_answers_on_loopback(tiny_model_dir) -> None:
    """``moviegenre serve`` starts uvicorn on a free port; polled (bounded) until it answers."""
    import json
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "moviegenre.cli", "serve", "--port", str(port)]
    command += ["--model", str(tiny_model_dir), "--max-texts", "2"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    assert json.load(response) == {"status": "ok"}
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start within 60 s"
                with pytest.raises(subprocess.TimeoutExpired):  # the poll interval; alive?
                    server.wait(timeout=0.2)
        genre, text = texts(1)[0]
        body = json.dumps({"texts": [text], "top_k": 1}).encode()
        request = urllib.request.Request(
            f"{base}/v1/predict", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response)["results"][0]["genres"][0]["genre"] == genre
        too_many = json.dumps({"texts": [text] * 3}).encode()
        request = urllib.request.Request(
            f"{base}/v1/predict", too_many, {"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 413
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_command_rejects_bad_limits(tiny_model_dir, capsys) -> None:
    from moviegenre.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["serve", "--model", str(tiny_model_dir), "--max-texts", "0"])
    assert exited.value.code == 2
    assert "--max-texts must be >= 1" in capsys.readouterr().err


def test_encoder_model_serves_concurrent_distinct_texts(tiny_backbone, monkeypatch) -> None:
    """Worker threads share the encoder's embedding memo; evictions by one thread while
    another reads must never surface as a 500 (it was a KeyError)."""
    pytest.importorskip("torch")
    from concurrent.futures import ThreadPoolExecutor

    from moviegenre.models import embedding
    from moviegenre.models.encoder import EncoderGenreModel

    rows = tiny_rows(40, seed=3)
    params = dict(backbone=tiny_backbone, backend="torch", inference_backend=None)
    model = EncoderGenreModel(**params, max_seq_length=32, batch_size=2, prior_weight=0.0)
    model.fit([r[3] for r in rows], [r[2] for r in rows])
    monkeypatch.setattr(embedding, "MEMO_SIZE", 3)  # constant eviction
    clf = GenreClassifier.from_model(model)
    app = create_app(clf, ApiSettings(workers=4, batch_texts=2))
    distinct = [text for _, text in texts(120)]

    with TestClient(app) as client:

        def call(i: int) -> int:
            if i % 4 == 3:
                return client.post("/v1/explain", json={"text": distinct[i]}).status_code
            body = {"texts": distinct[i : i + 2], "top_k": 2}
            return client.post("/v1/predict", json=body).status_code

        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(call, range(0, 118)))
    assert codes == [200] * 118


def test_predict_with_coverage_returns_sets(client: TestClient) -> None:
    (genre, good), *_ = texts(1)
    body = {"texts": [good, "far too short"], "top_k": 1, "coverage": 0.9}
    results = client.post("/v1/predict", json=body).json()["results"]
    assert results[0]["set"][0]["genre"] == genre and results[1]["set"] is None
    plain = client.post("/v1/predict", json={"texts": [good]}).json()["results"][0]
    assert "set" not in plain  # not asked for: absent, as in the CLI's --json


@pytest.mark.parametrize("coverage", [0, 1, 1.5, -0.2, "high"])
def test_predict_refuses_bad_coverage(client: TestClient, coverage) -> None:
    body = {"texts": [texts(1)[0][1]], "coverage": coverage}
    response = client.post("/v1/predict", json=body)
    [issue] = _issues(response)
    assert issue["loc"] == ["body", "coverage"]
    assert "Extra inputs" not in issue["msg"]  # the field exists: its value is what is refused


def test_predict_coverage_without_scores_is_422(classifier: GenreClassifier) -> None:
    from dataclasses import replace

    bare = GenreClassifier(classifier.model, replace(classifier.info, conformal=None))
    with TestClient(create_app(bare, LIMITS)) as test_client:
        body = {"texts": [texts(1)[0][1]], "coverage": 0.9}
        response = test_client.post("/v1/predict", json=body)
    assert "moviegenre calibrate" in _issues(response)[0]["msg"]


def test_serve_rejects_bad_timeouts() -> None:
    with pytest.raises(ConfigError, match="timeout_request must be in"):
        ApiSettings(timeout_request=0)
    with pytest.raises(ConfigError, match="limit_concurrency must be >= 1"):
        ApiSettings(limit_concurrency=0)
    with pytest.raises(ConfigError, match="max_connections must be >= 1"):
        ApiSettings(max_connections=0)
    with pytest.raises(ConfigError, match="max_queue_seconds must be in"):
        ApiSettings(max_queue_seconds=0)


@pytest.mark.parametrize("coverage", [None, 0.9])
def test_cli_api_and_python_give_the_same_document(
    client: TestClient, classifier: GenreClassifier, tiny_model_dir, coverage, capsys
) -> None:
    """One schema: ``predict --json``, ``/v1/predict`` and ``predictions_payload`` agree on the
    keys (``set`` only when asked for), the rounding and the values, refused texts included."""
    import json

    from moviegenre.cli import main
    from moviegenre.results import predictions_payload

    good = [text for _, text in texts(2)]
    body: dict = {"texts": [*good, "far too short"], "top_k": 2}
    argv = ["predict", *body["texts"], "--model", str(tiny_model_dir), "--top-k", "2", "--json"]
    if coverage is not None:
        body["coverage"] = coverage
        argv += ["--coverage", str(coverage)]
    api = client.post("/v1/predict", json=body).json()
    with pytest.raises(SystemExit):  # exit 1: a text was refused
        main(argv)
    cli = json.loads(capsys.readouterr().out)
    python = predictions_payload(
        classifier.name, classifier.classify(body["texts"], top_k=2, coverage=coverage)
    )
    assert cli == api == json.loads(json.dumps(python))
    assert {*api["results"][0]} == {"genres", "error", "code", "truncated"} | (
        {"set"} if coverage else set()
    )


# -- multi-label models (issue 22): labels, recall sets, the model's flag ---------------------


def test_the_schema_documents_labels_sets_and_the_flag(app: FastAPI) -> None:
    schema = app.openapi()["components"]["schemas"]
    item = schema["PredictItem"]["properties"]
    assert "Multi-label models only" in item["labels"]["description"]
    assert "`recall`" in item["set"]["description"] and "`coverage`" in item["set"]["description"]
    assert "multi_label" in schema["ModelResponse"]["required"]
    request = schema["PredictRequest"]["properties"]
    # a single-label model takes coverage; its schema says recall is null only, and why
    assert {"type": "number", "exclusiveMinimum": 0.0, "exclusiveMaximum": 1.0} in request[
        "coverage"
    ]["anyOf"]
    assert request["recall"]["type"] == "null"
    assert "recall is for multi-label models" in request["recall"]["description"]


def test_a_single_label_model_says_so_and_refuses_recall(client: TestClient) -> None:
    assert client.get("/v1/model").json()["multi_label"] is False
    body = {"texts": [texts(1)[0][1]], "recall": 0.9}
    [issue] = _issues(client.post("/v1/predict", json=body))
    assert issue["loc"] == ["body", "recall"] and issue["type"] == "not_for_this_model"
    assert issue["msg"].startswith("recall is for multi-label models")
    assert '"coverage"' in issue["msg"]


@pytest.fixture(scope="module")
def multi_app(tiny_multi_classifier: GenreClassifier) -> FastAPI:
    return create_app(tiny_multi_classifier, LIMITS)


@pytest.fixture(scope="module")
def multi_client(multi_app: FastAPI):
    with TestClient(multi_app) as test_client:
        yield test_client


def multi_texts() -> tuple[list[str], list[tuple[str, ...]]]:
    """Texts of one and of two genres (the first is a pair) the tiny multi-label model knows."""
    return tiny_multi_rows(3, seed=11)


def test_a_multi_label_model_says_so(multi_client: TestClient) -> None:
    info = multi_client.get("/v1/model").json()
    assert info["multi_label"] is True and info["name"] == "tiny-multi-label"


def test_multi_label_results_carry_the_assigned_genres(multi_client: TestClient) -> None:
    texts_, sets = multi_texts()
    body = {"texts": [*texts_, "far too short"], "top_k": 3}
    results = multi_client.post("/v1/predict", json=body).json()["results"]
    for result, genres in zip(results, sets, strict=False):
        labels = [g["genre"] for g in result["labels"]]
        assert sorted(labels) == sorted(genres)  # two genres where two pass, else one
        assert labels[0] == result["genres"][0]["genre"]
        probabilities = [g["probability"] for g in result["labels"]]
        assert probabilities == sorted(probabilities, reverse=True)
        assert "set" not in result and len(result["genres"]) == 3
    assert len(sets[0]) == 2  # a pair is among them
    # independent probabilities: the top-3 of a two-genre text sum over 1
    assert sum(g["probability"] for g in results[0]["genres"]) > 1
    refused = results[-1]
    assert refused["code"] == "too_short" and refused["genres"] == []
    assert not refused.get("labels")


def test_multi_label_recall_sets_and_the_document_of_the_cli(
    multi_client: TestClient, tiny_multi_classifier: GenreClassifier, tiny_multi_model_dir, capsys
) -> None:
    """One schema: ``predict --json --recall``, ``/v1/predict`` with ``recall`` and
    ``predictions_payload`` of ``classify(recall=...)`` give the same document."""
    import json

    from moviegenre.results import predictions_payload

    texts_, _ = multi_texts()
    body = {"texts": [*texts_, "far too short"], "top_k": 2, "recall": 0.9}
    api = multi_client.post("/v1/predict", json=body).json()
    python = predictions_payload(
        tiny_multi_classifier.name,
        tiny_multi_classifier.classify(body["texts"], top_k=2, recall=0.9),
    )
    argv = ["predict", *body["texts"], "--model", str(tiny_multi_model_dir), "--json"]
    code, out, _ = run_cli([*argv, "--top-k", "2", "--recall", "0.9"], capsys)
    assert code == 1  # a text was refused
    assert json.loads(out) == api == json.loads(json.dumps(python))
    first = api["results"][0]
    assert {*first} == {"genres", "error", "code", "truncated", "labels", "set"}
    assert first["set"] and api["results"][-1]["set"] is None


def test_a_multi_label_model_refuses_coverage_naming_recall(multi_client: TestClient) -> None:
    body = {"texts": [multi_texts()[0][0]], "coverage": 0.9}
    [issue] = _issues(multi_client.post("/v1/predict", json=body))
    assert issue["loc"] == ["body", "coverage"] and issue["type"] == "not_for_this_model"
    assert (
        issue["msg"].startswith("coverage is for single-label models")
        and '"recall"' in issue["msg"]
    )


@pytest.mark.parametrize("recall", [0, 1, 1.5, "high"])
def test_a_multi_label_model_refuses_a_bad_recall(multi_client: TestClient, recall) -> None:
    body = {"texts": [multi_texts()[0][0]], "recall": recall}
    [issue] = _issues(multi_client.post("/v1/predict", json=body))
    assert issue["loc"] == ["body", "recall"] and "Extra inputs" not in issue["msg"]


def test_a_multi_label_schema_takes_recall_and_fuzzes_clean(multi_app: FastAPI) -> None:
    request = multi_app.openapi()["components"]["schemas"]["PredictRequest"]["properties"]
    assert request["coverage"]["type"] == "null"
    assert "coverage is for single-label models" in request["coverage"]["description"]
    assert {"type": "number", "exclusiveMinimum": 0.0, "exclusiveMaximum": 1.0} in request[
        "recall"
    ]["anyOf"]
    schema = schemathesis.openapi.from_asgi("/openapi.json", multi_app)
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/v1/predict":
            fuzz(operation, schemathesis.GenerationMode.POSITIVE, [])

"""What an operator sees: /metrics (Prometheus text format) and the access log."""

from __future__ import annotations

import logging

import pytest
from conftest import tiny_rows
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from moviegenre import GenreClassifier
from moviegenre.serve.api import ApiSettings, create_app, server_config
from moviegenre.serve.batching import Overloaded
from moviegenre.serve.metrics import ACCESS_LOGGER, log_config


@pytest.fixture(scope="module")
def classifier(tiny_model_dir) -> GenreClassifier:
    return GenreClassifier.load(tiny_model_dir)


def scrape(client: TestClient) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from GET /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_requests_errors_latency_model_calls_and_shedding(classifier) -> None:
    """Old code had no /metrics (404)."""
    app = create_app(classifier, ApiSettings(max_texts=4))
    text = tiny_rows(1, seed=9)[0][3]
    with TestClient(app) as client:
        for _ in range(2):
            assert client.post("/v1/predict", json={"texts": [text] * 3}).status_code == 200
        assert client.post("/v1/predict", json={"texts": []}).status_code == 422
        too_big = client.post("/v1/predict", content=b"x" * 3_000_000)  # refused before routing
        assert too_big.status_code == 413
        assert client.get("/no/such/path").status_code == 404

        async def full(texts, top_k):
            raise Overloaded("busy", 3)

        app.state.batcher.classify = full
        assert client.post("/v1/predict", json={"texts": [text]}).status_code == 503
        samples = scrape(client)

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, tuple(sorted(labels.items()))))

    route = {"route": "/v1/predict", "method": "POST"}
    assert value("moviegenre_http_requests_total", **route, status="200") == 2
    assert value("moviegenre_http_requests_total", **route, status="422") == 1
    assert value("moviegenre_http_requests_total", **route, status="503") == 1
    assert value("moviegenre_http_requests_total", **route, status="413") == 1
    assert value("moviegenre_http_requests_total", route="other", method="GET", status="404") == 1
    latency = "moviegenre_http_request_duration_seconds_count"
    assert value(latency, route="/v1/predict") == 5
    assert value("moviegenre_model_call_rows_count", lane="small") == 2
    assert value("moviegenre_model_call_rows_sum", lane="small") == 6
    assert value("moviegenre_shed_requests_total", reason="queue") == 1
    assert value("moviegenre_queue_rows", lane="large") == 0
    assert value("moviegenre_unbatched_jobs") == 0
    assert value("moviegenre_http_requests_in_flight") == 1  # the scrape itself


def test_two_apps_keep_their_own_counts(classifier) -> None:
    first, second = create_app(classifier), create_app(classifier)
    with TestClient(first) as one, TestClient(second) as two:
        one.get("/healthz")
        key = (
            "moviegenre_http_requests_total",
            (("method", "GET"), ("route", "/healthz"), ("status", "200")),
        )  # noqa: E501
        assert scrape(one)[key] == 1 and key not in scrape(two)


def test_the_access_log_is_one_escaped_line_per_request(classifier, caplog) -> None:
    """Old code had no access log of its own (uvicorn's, off, wrote to stdout)."""
    app = create_app(classifier, ApiSettings(access_log=True))
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER), TestClient(app) as client:
        client.get("/healthz")
        client.get("/forged%0A127.0.0.1 GET /admin 200")
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    assert '"GET /healthz" 200' in lines[0] and lines[0].endswith("ms")
    assert '"GET /forged\\n127.0.0.1 GET /admin 200" 404' in lines[1]


def test_no_access_log_by_default(classifier, caplog) -> None:
    with (
        caplog.at_level(logging.INFO, logger=ACCESS_LOGGER),
        TestClient(create_app(classifier)) as client,
    ):  # noqa: E501
        client.get("/healthz")
    assert not [r for r in caplog.records if r.name == ACCESS_LOGGER]


@pytest.mark.parametrize("access_log", [True, False])
def test_the_server_logs_access_to_stderr_only_when_asked(classifier, access_log) -> None:
    settings = ApiSettings(access_log=access_log)
    config = server_config(create_app(classifier, settings), "127.0.0.1", 0, settings, "error")
    assert config.log_config == log_config(access_log) and config.access_log is False
    logger = config.log_config["loggers"].get(ACCESS_LOGGER)
    assert (logger is not None) == access_log
    if access_log:
        handler = config.log_config["handlers"][logger["handlers"][0]]
        assert handler["stream"] == "ext://sys.stderr"


def test_serve_has_an_access_log_option(tiny_model_dir, monkeypatch) -> None:
    from moviegenre.cli import main
    from moviegenre.serve import api

    seen = []
    monkeypatch.setattr(api, "serve", lambda *args, **kwargs: seen.append(args[3]))
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--model", str(tiny_model_dir), "--access-log", "--max-connections", "50"])
    assert exited.value.code == 0
    assert seen[0].access_log is True and seen[0].max_connections == 50


@pytest.mark.parametrize(("fails", "status"), [(False, "499"), (True, "500")])
def test_a_request_left_unanswered_is_counted_apart(fails: bool, status: str) -> None:
    """499: the client went away first (nothing was sent); 500: the app raised."""
    import asyncio
    import contextlib

    from moviegenre.serve.metrics import Observe, ServerMetrics

    async def app(scope, receive, send):
        if fails:
            raise RuntimeError("boom")

    metrics = ServerMetrics()
    observed = Observe(app, metrics)
    scope = {"type": "http", "method": "POST", "path": "/v1/predict"}
    with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():
        asyncio.run(observed(scope, None, None))
    labels = {"route": "other", "method": "POST", "status": status}
    assert metrics.registry.get_sample_value("moviegenre_http_requests_total", labels) == 1

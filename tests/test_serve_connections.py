"""The API server's connections on a real uvicorn: deadlines, the cap, no lock-out by idle ones."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from types import SimpleNamespace

import pytest
from conftest import tiny_rows

from moviegenre import GenreClassifier
from moviegenre.serve.api import ApiSettings, create_app, server_config
from moviegenre.serve.connections import ConnectionTable, descriptor_cap

HALF_SENT = [
    b"",  # connected, sent nothing
    b"POS",  # half a request line
    b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n",  # headers never finish
    b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b'Content-Length: 200\r\n\r\n{"texts": ["a',  # body never finishes
]


@pytest.fixture(scope="module")
def classifier(tiny_model_dir) -> GenreClassifier:
    return GenreClassifier.load(tiny_model_dir)


@contextlib.contextmanager
def live_server(classifier: GenreClassifier, **limits):
    """A real uvicorn server (``serve``'s config) on a free loopback port; yields (port, app).

    The listening socket is bound and listening before the server thread starts, so clients
    can connect at once; their connections wait in the backlog until the loop accepts them,
    in the order they came.
    """
    import uvicorn

    settings = ApiSettings(**limits)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    port = sock.getsockname()[1]
    app = create_app(classifier, settings)
    config = server_config(app, "127.0.0.1", port, settings, "error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield port, app
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive()


def _closed_within(sock, seconds: float) -> bool:
    """True if the server closes ``sock`` (recv gives b"") before ``seconds`` pass."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:  # reset by the server
        return True
    return True


def _whole_request(close: bool) -> bytes:
    """A /v1/predict request for one text, asking to close the connection after it or not."""
    text = tiny_rows(1, seed=9)[0][3]
    body = json.dumps({"texts": [text], "top_k": 1}).encode()
    closing = "Connection: close\r\n" if close else ""
    head = (
        "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{closing}\r\n"
    ).encode()
    return head + body


def _predict(port: int) -> bytes:
    """One whole /v1/predict request on a new connection; the status line of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(_whole_request(close=True))
        sock.settimeout(30)
        return sock.recv(65536).split(b"\r\n")[0]


@pytest.mark.parametrize("partial", HALF_SENT)
def test_a_half_sent_request_is_dropped_after_the_timeout(classifier, partial: bytes) -> None:
    limits = dict(timeout_keep_alive=0.5, timeout_request=0.5)
    with (
        live_server(classifier, **limits) as (port, _),
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        start = time.monotonic()
        sock.sendall(partial)
        assert _closed_within(sock, 10), "the server kept a half-sent request open for 10 s"
        assert time.monotonic() - start >= 0.4


def test_a_silent_connection_gets_the_short_first_byte_deadline(classifier) -> None:
    """Old code gave a connection that never sends a byte the whole-request timeout (30 s)."""
    limits = dict(timeout_keep_alive=0.5, timeout_request=60)
    with (
        live_server(classifier, **limits) as (port, _),
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        assert _closed_within(sock, 20), "a silent connection was kept open for 20 s"


def test_a_whole_request_still_answers_and_an_idle_connection_is_closed(classifier) -> None:
    limits = dict(timeout_keep_alive=0.5, timeout_request=0.5)
    with (
        live_server(classifier, **limits) as (port, _),
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        sock.sendall(_whole_request(close=False))
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert _closed_within(sock, 10)


def test_idle_connections_do_not_lock_other_clients_out(classifier) -> None:
    """Old code: uvicorn counted 8 idle sockets against limit_concurrency 4 and answered 503."""
    limits = dict(timeout_keep_alive=60, timeout_request=60, limit_concurrency=4)
    with live_server(classifier, **limits) as (port, _):
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(8)]
        try:
            for n, sock in enumerate(idle):
                sock.sendall(HALF_SENT[n % 2])  # nothing, or half a request line
            assert [_predict(port) for _ in range(3)] == [b"HTTP/1.1 200 OK"] * 3
        finally:
            for sock in idle:
                sock.close()


def test_at_the_connection_cap_an_idle_connection_makes_room(classifier) -> None:
    """Old code had no cap of its own: the 5th connection was kept, the 6th, ... every one."""
    limits = dict(timeout_keep_alive=60, timeout_request=60, max_connections=4)
    with live_server(classifier, **limits) as (port, app):
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
        try:
            assert _predict(port) == b"HTTP/1.1 200 OK"
            assert _closed_within(idle[0], 10), "the first (longest-waiting) one was kept"
            registry = app.state.metrics.registry
            assert registry.get_sample_value("moviegenre_evicted_connections_total") == 1
        finally:
            for sock in idle:
                sock.close()


class _Fake:
    """A connection as the table sees it: waiting on its client or not, since when."""

    def __init__(self, waiting: bool, since: float) -> None:
        self.waiting, self.waiting_since = waiting, since
        closed: list[bool] = []
        self.transport = SimpleNamespace(close=lambda: closed.append(True), closed=closed)

    def waiting_on_client(self) -> bool:
        return self.waiting


@pytest.mark.parametrize(
    ("others", "victim"),
    [
        ([(True, 3.0), (True, 1.0), (False, 0.5)], 1),  # the longest-waiting idle one
        ([(False, 1.0), (False, 2.0), (False, 3.0)], "new"),  # all busy: the newcomer goes
    ],
)
def test_the_table_pushes_out_the_longest_waiting_idle_connection(others, victim) -> None:
    evictions: list[int] = []
    table = ConnectionTable(3, on_evict=lambda: evictions.append(1))
    fakes = [_Fake(waiting, since) for waiting, since in others]
    for fake in fakes:
        table.admit(fake)
    newcomer = _Fake(True, 9.0)
    table.admit(newcomer)
    gone = newcomer if victim == "new" else fakes[victim]
    assert gone.transport.closed == [True] and gone not in table.open
    assert len(table.open) == 3 and evictions == [1]
    assert sum(bool(p.transport.closed) for p in [*fakes, newcomer]) == 1


def test_the_cap_leaves_file_descriptors_to_spare() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert descriptor_cap(10) == 10
    if soft != resource.RLIM_INFINITY:
        assert descriptor_cap(soft * 2) < soft

"""Commands that run a server: serve (HTTP API) and app (web page). Each checks the model and
the port before it says it is serving."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from moviegenre._util import bind_socket, die_with_parent, require
from moviegenre.checks import TRANSPORT_MAX_CHARS
from moviegenre.cli._base import ModelOpt, app, err_console

Host = Annotated[str, typer.Option(help="Interface to listen on.")]


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    model: ModelOpt = None,
    max_texts: Annotated[int, typer.Option(help="Texts per request at most.")] = 64,
    max_chars: Annotated[
        int,
        typer.Option(help="Transport limit: characters per text of a request (413 beyond)."),
    ] = TRANSPORT_MAX_CHARS,
    max_body_bytes: Annotated[int, typer.Option(help="Request body bytes at most.")] = 2_000_000,
    workers: Annotated[int, typer.Option(help="Threads that run the model.")] = 2,
    timeout_keep_alive: Annotated[
        float,
        typer.Option(
            help="Seconds a connection may wait for a request's first byte (new or kept alive)."
        ),
    ] = 5.0,
    timeout_request: Annotated[
        float,
        typer.Option(help="Seconds from a request's first byte to its last, else it is dropped."),
    ] = 30.0,
    limit_concurrency: Annotated[
        int,
        typer.Option(
            help="Requests in progress at most, then 503 (idle connections do not count)."
        ),
    ] = 256,
    max_connections: Annotated[
        int,
        typer.Option(help="Open connections at most; a new one closes the longest-idle one."),
    ] = 1000,
    max_queue_seconds: Annotated[
        float,
        typer.Option(help="Predict requests that would wait longer for the model get 503."),
    ] = 10.0,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="One line per request on stderr.")
    ] = False,
) -> None:
    """Run the HTTP API (FastAPI + uvicorn); docs at http://HOST:PORT/docs, metrics at /metrics."""
    require("fastapi", "uvicorn", "prometheus_client", purpose="moviegenre serve")
    from moviegenre.serve.api import ApiSettings
    from moviegenre.serve.api import serve as run_server

    settings = ApiSettings(
        max_texts,
        max_chars,
        max_body_bytes,
        workers,
        timeout_keep_alive=timeout_keep_alive,
        timeout_request=timeout_request,
        limit_concurrency=limit_concurrency,
        max_connections=max_connections,
        max_queue_seconds=max_queue_seconds,
        access_log=access_log,
    )

    def announce(url: str) -> None:
        err_console.print(f"serving on {url} (docs at /docs); Ctrl+C stops", highlight=False)

    run_server(host, port, str(model) if model else None, settings, announce=announce)


@app.command(name="app")
def web_app(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8501,
    model: ModelOpt = None,
) -> None:
    """Run the web page (Streamlit) in the foreground; it stops when this command stops."""
    import subprocess
    from functools import partial

    from moviegenre.classifier import GenreClassifier

    require("streamlit", purpose="moviegenre app")
    folder = GenreClassifier.load(model).path  # the page would only show the error
    bind_socket(host, port).close()
    page = Path(__file__).parents[1] / "serve" / "app.py"
    env = dict(os.environ, **({"MOVIEGENRE_MODEL": str(folder)} if model and folder else {}))
    command = [sys.executable, "-m", "streamlit", "run", str(page), "--server.port", str(port)]
    command += ["--server.address", host, "--server.headless", "true"]
    command += ["--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]
    err_console.print(f"web page on http://{host}:{port}; Ctrl+C stops", highlight=False)
    # Ctrl-C or SIGTERM here kills Streamlit (subprocess.call); a SIGKILL, the parent-death signal.
    stop_with_us = partial(die_with_parent, os.getpid())
    raise typer.Exit(subprocess.call(command, env=env, preexec_fn=stop_with_us))

"""The API server's connections: deadlines for slow clients and a cap that idle ones cannot fill.

uvicorn counts every open connection against ``limit_concurrency``, so 257 sockets that connect
and never send a byte used to lock every other client out (503), renewably every 30 s. Here:

- idle connections do not count against the limit on requests being served (``serve`` gives
  uvicorn no ``limit_concurrency``; the app's ``Admission`` middleware counts requests instead);
- a connection has ``first_byte`` seconds to start a request (fresh or kept alive, the same
  deadline) and then ``whole_request`` seconds to finish sending it, headers and body;
  uvicorn itself has neither deadline for a fresh connection;
- open connections are capped at ``max_connections``; at the cap a new connection pushes out
  the one that has been waiting for its client the longest (a connection whose request is
  being answered is never pushed out), so filling the cap with idle sockets only closes the
  filler's own sockets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

#: File descriptors kept free for the model, the log and the listening socket.
SPARE_DESCRIPTORS = 64


def descriptor_cap(requested: int) -> int:
    """``requested`` connections, or fewer if the process may not open that many files."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # not POSIX: trust the setting
        return requested
    if soft == resource.RLIM_INFINITY:
        return requested
    return max(1, min(requested, soft - SPARE_DESCRIPTORS))


class ConnectionTable:
    """The open connections of one server, to find the one to push out at the cap."""

    def __init__(self, max_connections: int, on_evict: Callable[[], None] | None = None) -> None:
        self.max_connections = max_connections
        self.on_evict = on_evict
        self.open: set[Any] = set()
        self.evicted = 0

    def admit(self, protocol: Any) -> None:
        """Count ``protocol`` in; over the cap, close the longest-waiting connection."""
        self.open.add(protocol)
        if len(self.open) <= self.max_connections:
            return
        waiting = [p for p in self.open if p.waiting_on_client()]
        victim = min(waiting, key=lambda p: p.waiting_since) if waiting else protocol
        self.evicted += 1
        if self.on_evict is not None:
            self.on_evict()
        victim.transport.close()
        self.open.discard(victim)


def guarded_protocol(first_byte: float, whole_request: float, table: ConnectionTable) -> type:
    """uvicorn's HTTP protocol with the deadlines and the connection cap of the module doc.

    ``first_byte``: seconds a connection may wait for the first byte of a request (from the
    connection or from the previous response); ``whole_request``: seconds from that byte to
    the end of the request. The clock is off while the app answers a request it has fully read.
    """
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class GuardedHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        _timer: asyncio.TimerHandle | None = None
        #: monotonic time since which the connection waits for its client (no request started).
        waiting_since: float = 0.0
        _started = False

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._await_request()
            table.admit(self)

        def data_received(self, data: bytes) -> None:
            if not self._started:  # the first byte of a request: the rest must follow
                self._started = True
                self._arm(whole_request)
            super().data_received(data)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._await_request()

        def connection_lost(self, exc: Exception | None) -> None:
            table.open.discard(self)
            if self._timer is not None:
                self._timer.cancel()
            super().connection_lost(exc)

        def waiting_on_client(self) -> bool:
            """True unless the app is answering a request it has fully received."""
            cycle = self.cycle
            return cycle is None or cycle.response_complete or cycle.more_body

        def _await_request(self) -> None:
            self._started = False
            self.waiting_since = time.monotonic()
            self._arm(first_byte)

        def _arm(self, seconds: float) -> None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_later(seconds, self._expire)

        def _expire(self) -> None:
            if self.waiting_on_client() and not self.transport.is_closing():
                self.transport.close()

    return GuardedHTTPProtocol


__all__ = ["ConnectionTable", "descriptor_cap", "guarded_protocol"]

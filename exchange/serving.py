"""``exchange serve --workers N``: worker processes that share the connections evenly.

uvicorn's own ``--workers`` gives every worker the same listening socket, and the first worker to
wake accepts every connection waiting in it. Clients that keep their connections open (API clients,
a proxy's keep-alive pool) connect at about the same moment, so one worker can end up with all of
them while the other idles: measured with 32 clients on two workers, 26/6 and 32/0 splits, half the
throughput and twice the tail latency of an even split.

On Linux each worker here listens on a socket of its own bound to the same address with
``SO_REUSEPORT``, and the kernel spreads new connections across those sockets by a hash of each
connection's addresses. A hash spreads a few connections unevenly, so a worker holding more than
its share of the kept-open connections lets one go after a response (``ShareConnections``). The
supervising process holds the port (so a second server cannot start on it), stops the workers on
SIGINT or SIGTERM, and replaces a worker that dies while serving. A worker that cannot start (a
bad database URL, a failed migration) stops them all, with its exit code. Elsewhere, or with one
worker, uvicorn runs as it is.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sized
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

logger = logging.getLogger("exchange.serve")

STARTUP_FAILURE = 3
"""The exit code of a worker that could not start serving (uvicorn's own)."""

LISTEN_BACKLOG = 2048


def balanced_workers_available() -> bool:
    """Whether the kernel spreads connections across sockets sharing a port (Linux does)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def serve(app: str, *, host: str, port: int, workers: int, options: dict[str, Any]) -> int:
    """Serve ``app`` (an import string of an application factory); the exit code when it stops."""
    import uvicorn

    if workers <= 1 or not balanced_workers_available():
        uvicorn.run(app, factory=True, host=host, port=port, workers=workers, **options)
        return 0
    return Supervisor(app, host, port, workers, options).run()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class ShareConnections:
    """ASGI wrapper: keeps the kept-open connections shared evenly between the workers.

    The kernel's hash spreads many connections well but a few badly: a job's four connections
    over two workers landed 4/0 or 3/1 more often than 2/2, and one worker then did three
    quarters of the work. Each worker publishes how many connections it holds; one holding more
    than its even share closes one after a response (``Connection: close``, at most one every
    ``SHED_SECONDS``), and the client's next connection may land on another worker. Requests are
    never refused or cut short: only a kept-open connection is not kept.
    """

    SHED_SECONDS = 0.05

    def __init__(self, app: Any, index: int, counts: Any, connections: Sized = ()) -> None:
        self.app = app
        self.index = index
        self.counts = counts  # shared by the workers: how many connections each holds
        self.connections = connections  # this worker's open connections (uvicorn's own set)
        self._last_shed = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_maybe_closing(message: Any) -> None:
            if message["type"] == "http.response.start" and self.over_share():
                headers = [*message.get("headers", ()), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_maybe_closing)

    def over_share(self) -> bool:
        """Whether this worker should let one connection go now (and publish its count)."""
        mine = len(self.connections)
        self.counts[self.index] = mine
        share = -(-sum(self.counts) // len(self.counts))  # the even share, rounded up
        now = time.monotonic()
        if mine <= share or now - self._last_shed < self.SHED_SECONDS:
            return False
        self._last_shed = now
        return True


def run_worker(
    app: str, host: str, port: int, options: dict[str, Any], index: int, counts: Any
) -> None:
    """One worker process: its own listening socket on the shared port, then uvicorn on it."""
    import uvicorn
    from uvicorn.importer import import_from_string

    server: uvicorn.Server | None = None
    try:
        sock = _bind(host, port, reuse_port=True)
        sock.listen(LISTEN_BACKLOG)
        application = ShareConnections(import_from_string(app)(), index, counts)
        server = uvicorn.Server(uvicorn.Config(application, host=host, port=port, **options))
        application.connections = server.server_state.connections
        server.run(sockets=[sock])
    except BaseException:
        if server is not None and server.started:
            raise
        logger.exception("the worker could not start")
        # Whatever stopped it (the application failed to load or to start), starting it again
        # would fail the same way.
        sys.exit(STARTUP_FAILURE)
    if not server.started:  # its start-up failed (uvicorn logged why)
        sys.exit(STARTUP_FAILURE)


@dataclass
class Supervisor:
    """Starts the workers, keeps them running, and stops them together."""

    app: str
    host: str
    port: int
    workers: int
    options: dict[str, Any]
    restart_delay: float = 1.0
    stop_timeout: float = 30.0
    _stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> int:
        try:
            # Without SO_REUSEPORT first: fails while anything else has the port, even another
            # server that would share it.
            _bind(self.host, self.port, reuse_port=False).close()
            holder = _bind(self.host, self.port, reuse_port=True)  # bound, never listening
        except OSError as error:
            logger.error("cannot listen on %s:%s: %s", self.host, self.port, error.strerror)
            return 1
        context = multiprocessing.get_context("spawn")
        counts = context.Array("i", self.workers, lock=False)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self._stopping.set())
        processes: list[BaseProcess] = []
        code = 0
        try:
            processes = [self._start(context, index, counts) for index in range(self.workers)]
            logger.info(
                "%d workers on %s:%s, each with its own listening socket",
                self.workers,
                self.host,
                self.port,
            )
            while not self._stopping.wait(0.2):
                for index, process in enumerate(processes):
                    if process.is_alive():
                        continue
                    if process.exitcode == STARTUP_FAILURE:
                        logger.error("worker %s could not start; stopping", process.pid)
                        code = STARTUP_FAILURE
                        self._stopping.set()
                        break
                    logger.warning(
                        "worker %s exited (%s); starting another", process.pid, process.exitcode
                    )
                    counts[index] = 0
                    time.sleep(self.restart_delay)
                    processes[index] = self._start(context, index, counts)
        finally:
            self._stop(processes)
            holder.close()
        return code

    def _start(self, context: Any, index: int, counts: Any) -> BaseProcess:
        process: BaseProcess = context.Process(
            target=run_worker,
            args=(self.app, self.host, self.port, self.options, index, counts),
            name="exchange-worker",
        )
        process.start()
        return process

    def _stop(self, processes: list[BaseProcess]) -> None:
        """SIGTERM (uvicorn finishes the requests in flight), then SIGKILL after the timeout."""
        for process in processes:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()

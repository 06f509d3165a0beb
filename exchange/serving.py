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
supervising process makes the sockets (after checking that nothing listens on the port, so a
second server is refused), stops the workers on SIGINT or SIGTERM, and replaces a worker that
dies (the replacement takes over its socket). If a worker cannot start the first time (a bad
database URL, a failed migration) the server stops with its exit code; a replacement that cannot
start is tried again, less and less often. Elsewhere, or with one worker, uvicorn runs as it is.
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
from dataclasses import dataclass
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


def _listening(host: str, port: int) -> socket.socket:
    """A listening socket on the port, shared with the others bound the same way."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _check_free(host: str, port: int) -> None:
    """Raise OSError if anything listens on the port (another server, even one of these)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not SO_REUSEPORT
        probe.bind((host, port))


class ShareConnections:
    """ASGI wrapper: keeps the kept-open connections shared evenly between the workers.

    The kernel's hash spreads many connections well but a few badly: a job's four connections
    over two workers landed 4/0 or 3/1 more often than 2/2, and one worker then did three
    quarters of the work. Each worker publishes how many connections it holds (after each
    response and every ``PUBLISH_SECONDS``); one holding more than its even share among the
    workers running closes one after a response (``Connection: close``, at most one every
    ``SHED_SECONDS``), and the client's next connection may land on another worker. Requests are
    never refused or cut short: only a kept-open connection is not kept.
    """

    SHED_SECONDS = 0.05
    PUBLISH_SECONDS = 0.1
    NOT_RUNNING = -1  # a worker's count while it is being replaced

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
                headers = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() != b"connection"
                ]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_maybe_closing)

    def publish(self) -> int:
        """Publish this worker's count of open connections; returns it."""
        mine = len(self.connections)
        self.counts[self.index] = mine
        return mine

    def publish_forever(self) -> None:
        """Keep the count current while no response is sent (a thread of the worker's)."""
        while True:
            self.publish()
            time.sleep(self.PUBLISH_SECONDS)

    def over_share(self) -> bool:
        """Whether this worker should let one connection go now."""
        mine = self.publish()
        running = [count for count in self.counts if count != self.NOT_RUNNING]
        share = -(-sum(running) // len(running))  # the even share, rounded up
        now = time.monotonic()
        if mine <= share or now - self._last_shed < self.SHED_SECONDS:
            return False
        self._last_shed = now
        return True


def run_worker(
    app: str, sock: socket.socket, options: dict[str, Any], index: int, counts: Any
) -> None:
    """One worker process: uvicorn on its own listening socket of the shared port."""
    import uvicorn
    from uvicorn.importer import import_from_string

    server: uvicorn.Server | None = None
    try:
        application = ShareConnections(import_from_string(app)(), index, counts)
        server = uvicorn.Server(uvicorn.Config(application, **options))
        application.connections = server.server_state.connections
        threading.Thread(target=application.publish_forever, daemon=True).start()
        server.run(sockets=[sock])
    except BaseException:
        if server is not None and server.started:
            raise
        logger.exception("the worker could not start")
        # Whatever stopped it (the application failed to load or to start), starting it again
        # at once would fail the same way.
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
    max_restart_delay: float = 30.0
    stop_timeout: float = 30.0
    _stopping: bool = False

    def _stop_soon(self, *_: object) -> None:
        # A signal handler: only a flag (an Event's lock could be held by the code it interrupts).
        self._stopping = True

    def run(self) -> int:
        # The supervisor makes the listening sockets (a replacement worker takes over its
        # predecessor's, connections queued in it included), after checking that nothing
        # listens on the port: a second server, even one of these, is refused.
        sockets: list[socket.socket] = []
        try:
            _check_free(self.host, self.port)
            for _ in range(self.workers):
                port = sockets[0].getsockname()[1] if sockets else self.port  # (--port 0)
                sockets.append(_listening(self.host, port))
        except OSError as error:
            for sock in sockets:
                sock.close()
            logger.error("cannot listen on %s:%s: %s", self.host, self.port, error.strerror)
            return 1
        context = multiprocessing.get_context("spawn")
        counts = context.Array("i", self.workers, lock=False)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._stop_soon)
        processes: list[BaseProcess] = []
        code = 0
        try:
            for index, sock in enumerate(sockets):
                processes.append(self._start(context, sock, index, counts))
            logger.info(
                "%d workers on %s:%s, each with its own listening socket",
                self.workers,
                self.host,
                sockets[0].getsockname()[1],
            )
            code = self._watch(context, sockets, processes, counts)
        finally:
            self._stop(processes)
            for sock in sockets:
                sock.close()
        return code

    def _watch(
        self,
        context: Any,
        sockets: list[socket.socket],
        processes: list[BaseProcess],
        counts: Any,
    ) -> int:
        """Replace workers that die until asked to stop; the exit code."""
        first = [True] * len(processes)  # still the first worker in its place
        delays = [self.restart_delay] * len(processes)
        while not self._stopping:
            time.sleep(0.2)
            for index, process in enumerate(processes):
                if self._stopping or process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE and first[index]:
                    logger.error("worker %s could not start; stopping", process.pid)
                    return STARTUP_FAILURE
                logger.warning(
                    "worker %s exited (%s); starting another in %.0f s",
                    process.pid,
                    process.exitcode,
                    delays[index],
                )
                counts[index] = ShareConnections.NOT_RUNNING
                deadline = time.monotonic() + delays[index]
                while not self._stopping and time.monotonic() < deadline:
                    time.sleep(0.1)
                if self._stopping:
                    break
                # One that cannot start (the database is away) is tried again less often.
                failed = process.exitcode == STARTUP_FAILURE
                delays[index] = (
                    min(delays[index] * 2, self.max_restart_delay) if failed else self.restart_delay
                )
                first[index] = False
                processes[index] = self._start(context, sockets[index], index, counts)
        return 0

    def _start(self, context: Any, sock: socket.socket, index: int, counts: Any) -> BaseProcess:
        process: BaseProcess = context.Process(
            target=run_worker,
            args=(self.app, sock, self.options, index, counts),
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

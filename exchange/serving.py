"""``exchange serve --workers N``: worker processes that share the connections evenly.

uvicorn's own ``--workers`` gives every worker the same listening socket, and the first worker to
wake accepts every connection waiting in it. Clients that keep their connections open (API clients,
a proxy's keep-alive pool) connect at about the same moment, so one worker can end up with all of
them while the other idles: measured with 32 clients on two workers, 26/6 and 32/0 splits, half the
throughput and twice the tail latency of an even split.

On Linux each worker here listens on a socket of its own bound to the same address with
``SO_REUSEPORT``, and the kernel spreads new connections across those sockets by a hash of each
connection's addresses. The supervising process holds the port (so a second server cannot start on
it), stops the workers on SIGINT or SIGTERM, and replaces a worker that dies while serving. A
worker that cannot start (a bad database URL, a failed migration) stops them all, with its exit
code. Elsewhere, or with one worker, uvicorn runs as it is.
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


def run_worker(app: str, host: str, port: int, options: dict[str, Any]) -> None:
    """One worker process: its own listening socket on the shared port, then uvicorn on it."""
    import uvicorn

    sock = _bind(host, port, reuse_port=True)
    sock.listen(LISTEN_BACKLOG)
    server = uvicorn.Server(uvicorn.Config(app, factory=True, host=host, port=port, **options))
    try:
        server.run(sockets=[sock])
    finally:
        if not server.started:
            # Whatever stopped it (the application failed to load, its start-up failed), starting
            # it again would fail the same way.
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
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self._stopping.set())
        processes: list[BaseProcess] = []
        code = 0
        try:
            processes = [self._start(context) for _ in range(self.workers)]
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
                    time.sleep(self.restart_delay)
                    processes[index] = self._start(context)
        finally:
            self._stop(processes)
            holder.close()
        return code

    def _start(self, context: Any) -> BaseProcess:
        process: BaseProcess = context.Process(
            target=run_worker,
            args=(self.app, self.host, self.port, self.options),
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

"""`exchange serve` for a benchmark: on a free port, in its own process group, waited for until
ready, and stopped with its workers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    command: list[str], env: dict[str, str], port: int, workers: int, log: Path, cwd: Path
) -> subprocess.Popen[bytes]:
    """``command serve`` with the whole environment ``env``, in its own process group (so its
    workers stop with it), its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                *command,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
        )


def wait_ready(base_url: str, server: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Until /readyz answers 200; exits with the server's log if it stops or never gets ready."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    sys.exit(f"the server was not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (the one it was started in), then SIGKILL if it stays."""
    if server.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=5)

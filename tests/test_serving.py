"""`exchange serve --workers N`: connections shared between the workers, which start, stop and
are replaced together (a real server in a subprocess; Linux, where the kernel shares connections
between sockets on one port)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exchange.serving import STARTUP_FAILURE, ShareConnections, balanced_workers_available

pytestmark = pytest.mark.skipif(
    not balanced_workers_available(), reason="connection sharing by the kernel is Linux's"
)

READY_SECONDS = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_command(port: int, workers: int) -> list[str]:
    script = Path(sys.executable).with_name("exchange")
    return [
        str(script),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def environment(directory: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}
    env.update(
        EXCHANGE_DATABASE_URL=database_url or f"sqlite:///{directory / 'exchange.db'}",
        EXCHANGE_ENCRYPTION_KEYS=os.environ["EXCHANGE_ENCRYPTION_KEYS"],
        EXCHANGE_PSEUDONYM_KEY=os.environ["EXCHANGE_PSEUDONYM_KEY"],
        EXCHANGE_DATA_DIR=str(directory / "data"),
        EXCHANGE_MIGRATE_ON_START="true",
        EXCHANGE_LOG_LEVEL="INFO",
        EXCHANGE_LOG_JSON="false",
    )
    return env


def start(directory: Path, port: int, workers: int, **env: str) -> subprocess.Popen[bytes]:
    log = (directory / f"serve-{port}-{time.monotonic_ns()}.log").open("wb")
    with log:
        return subprocess.Popen(
            serve_command(port, workers),
            env={**environment(directory), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=directory,
        )


def logs(directory: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in directory.glob("serve-*.log"))


def wait_ready(process: subprocess.Popen[bytes], port: int, directory: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited ({process.returncode}):\n{logs(directory)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"not ready after {READY_SECONDS:.0f} s:\n{logs(directory)}")


def children(pid: int) -> set[int]:
    """The live processes whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def tcp_sockets(port: int) -> Iterator[tuple[str, str]]:
    """(state, inode) of every IPv4 TCP socket whose local port is ``port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            yield fields[3], fields[9]


LISTEN, ESTABLISHED = "0A", "01"


def workers_of(server: int, port: int) -> dict[int, set[str]]:
    """The server's worker processes (those listening on ``port``) and their socket inodes."""
    listening = {inode for state, inode in tcp_sockets(port) if state == LISTEN}
    found = {}
    for pid in children(server):
        inodes = socket_inodes(pid)
        if inodes & listening:
            found[pid] = inodes
    return found


@contextlib.contextmanager
def running(directory: Path, workers: int = 2) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A server on a free port, ready; killed (with its workers) at the end."""
    port = free_port()
    server = start(directory, port, workers)
    try:
        wait_ready(server, port, directory)
        yield server, port
    finally:
        stop(server)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


def held_by_worker(server: int, port: int) -> list[int]:
    """How many open connections each of the server's workers holds, fewest first."""
    established = {inode for state, inode in tcp_sockets(port) if state == ESTABLISHED}
    return sorted(len(inodes & established) for inodes in workers_of(server, port).values())


def requests_until_shared(
    clients: list[http.client.HTTPConnection], server: int, port: int, even: list[int]
) -> list[int]:
    """Each client sends requests in turn (reconnecting when a response says Connection: close,
    as HTTP clients do) until the workers hold ``even`` connections, or the wait runs out."""
    deadline = time.monotonic() + 30
    while True:
        for client in clients:
            client.request("GET", "/healthz")
            response = client.getresponse()
            response.read()
            assert response.status == 200
        held = held_by_worker(server, port)
        if held == even or time.monotonic() > deadline:
            return held
        time.sleep(ShareConnections.SHED_SECONDS)


@pytest.mark.parametrize("count", [4, 32])
def test_kept_open_connections_end_up_shared_evenly(tmp_path: Path, count: int) -> None:
    """A job's 4 connections, or a busy system's 32, whatever split the kernel's hash gave
    them at first (4 on two workers: 3/1 or 4/0 five times in eight)."""
    with running(tmp_path) as (server, port):
        clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(count)]
        try:
            for client in clients:  # all connected before any request
                client.connect()
            even = [count // 2, count // 2]
            assert requests_until_shared(clients, server.pid, port, even) == even
            # Once shared, nobody is asked to reconnect: the same connections serve on.
            sockets = [client.sock for client in clients]
            for _ in range(3):
                assert requests_until_shared(clients, server.pid, port, even) == even
            assert [client.sock for client in clients] == sockets
        finally:
            for client in clients:
                client.close()


def test_sigterm_stops_every_worker(tmp_path: Path) -> None:
    with running(tmp_path) as (server, port):
        workers = workers_of(server.pid, port)
        assert len(workers) == 2, logs(tmp_path)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)


def test_a_worker_that_dies_is_replaced_and_the_port_keeps_answering(tmp_path: Path) -> None:
    with running(tmp_path) as (server, port):
        before = workers_of(server.pid, port)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)

        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            now = workers_of(server.pid, port)
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"no worker replaced the one killed:\n{logs(tmp_path)}")
        for _ in range(20):  # new connections, wherever the kernel puts them
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
        assert server.poll() is None
        assert "starting another" in logs(tmp_path)


def test_a_second_server_on_the_same_port_is_refused(tmp_path: Path) -> None:
    with running(tmp_path) as (first, port):
        second = start(tmp_path, port, workers=2)
        try:
            assert second.wait(timeout=READY_SECONDS) != 0
        finally:
            stop(second)
        assert f"cannot listen on 127.0.0.1:{port}" in logs(tmp_path)
        assert len(workers_of(first.pid, port)) == 2  # the first server is untouched
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200


def gone(group: int) -> bool:
    """Whether nothing remains of a process group (waiting a little for it to go)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def test_a_database_that_cannot_be_migrated_stops_the_server_before_any_worker(
    tmp_path: Path,
) -> None:
    """Migrating on start, with several workers: once, before they start (workers migrating one
    database at once raced); if it fails, the server stops with an error."""
    port = free_port()
    nowhere = f"postgresql+psycopg://exchange@127.0.0.1:{free_port()}/exchange"
    server = start(tmp_path, port, workers=2, EXCHANGE_DATABASE_URL=nowhere)
    try:
        assert server.wait(timeout=READY_SECONDS) != 0
        assert "Connection refused" in logs(tmp_path) or "connection failed" in logs(tmp_path)
        assert gone(server.pid), "a worker outlived the server"
    finally:
        stop(server)


def test_workers_that_cannot_start_stop_the_server_with_an_error(tmp_path: Path) -> None:
    """An application that fails to load in the workers: the supervisor stops, exit code 3."""
    port = free_port()
    code = (
        "import sys; from exchange.serving import Supervisor; "
        f"sys.exit(Supervisor('exchange.no_such_module:app', '127.0.0.1', {port}, 2, {{}}).run())"
    )
    log = tmp_path / "serve-supervisor.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-c", code],
            env=environment(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        assert server.wait(timeout=READY_SECONDS) == STARTUP_FAILURE
        assert "could not start" in logs(tmp_path)
        assert gone(server.pid), "a worker outlived the server"
    finally:
        stop(server)

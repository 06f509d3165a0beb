"""Transfer-job tests: a real exchange service in a subprocess, and the `exchange job` command.

The service runs as `exchange serve` on 127.0.0.1 on a database that really commits: a temporary
SQLite file, or, when EXCHANGE_TEST_DATABASE_URL points at PostgreSQL, a scratch database of its
own (``exchange_jobs_test_<pid>``, created and dropped here) so the shared test database is untouched.
Jobs run as `exchange job run|resume|status` subprocesses, exactly as an integration engineer
runs them; what arrived is read back from the service's database (records decrypted).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "jobs"
SENDER = "301"  # Barking and Dagenham: the LEA of every census the job tests send
TEST_DATABASE_URL = os.environ.get("EXCHANGE_TEST_DATABASE_URL")
ON_POSTGRES = (
    TEST_DATABASE_URL is not None and make_url(TEST_DATABASE_URL).get_backend_name() == "postgresql"
)
# One per test process, so two runs on one PostgreSQL server never drop each other's.
SCRATCH_DATABASE = f"exchange_jobs_test_{os.getpid()}"
# A loaded 2-core machine: every wait is generous and polls, none is a fixed sleep that must be
# long enough.
READY_SECONDS = 90.0
JOB_SECONDS = 180.0


def exchange_command() -> list[str]:
    """The `exchange` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("exchange")
    if script.exists():
        return [str(script)]
    found = shutil.which("exchange")
    if found is None:
        raise RuntimeError("the `exchange` command is not installed (pip install -e .)")
    return [found]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any EXCHANGE_ setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}
    env["COLUMNS"] = "200"  # rich tables in captured output: wide enough not to cut values
    env.update(extra)
    return env


# --- the service ---------------------------------------------------------------------------------


class Service:
    """`exchange serve` in a subprocess on a committed database, with an authority client."""

    def __init__(self, directory: Path, database_url: str, *, count_url: str | None = None) -> None:
        self.directory = directory
        self.database_url = database_url
        # Where the tests read what arrived (the service itself may reach it through a proxy).
        self.count_url = count_url or database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "service.log"
        self.token = ""
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        """The service's settings: the test keys set by tests/conftest.py, its own database."""
        return clean_environment(
            EXCHANGE_DATABASE_URL=self.database_url,
            EXCHANGE_ENCRYPTION_KEYS=os.environ["EXCHANGE_ENCRYPTION_KEYS"],
            EXCHANGE_PSEUDONYM_KEY=os.environ["EXCHANGE_PSEUDONYM_KEY"],
            EXCHANGE_AUDIT_SIGNING_KEY=os.environ["EXCHANGE_AUDIT_SIGNING_KEY"],
            EXCHANGE_DATA_DIR=str(self.directory / "data"),
            EXCHANGE_LOG_LEVEL="WARNING",
        )

    def start(self, *, migrate: bool = True) -> None:
        """Start the service (on the same port as before, if it ran) and wait until it is ready."""
        assert self.process is None or self.process.poll() is not None, "already running"
        command = [*exchange_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, *(["--migrate"] if migrate else [])],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so it stops as a whole
                cwd=self.directory,
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = READY_SECONDS) -> None:
        """Until /readyz answers 200 (failing with the service's log if it exits)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"the service exited ({self.process.returncode}):\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            time.sleep(0.2)
        pytest.fail(f"the service was not ready after {timeout:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        """The end of the service's log."""
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL the service (a crash: nothing is finished, connections just drop)."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM the service, SIGKILL if it does not stop."""
        self._signal(signal.SIGTERM)

    def _signal(self, sig: signal.Signals) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def create_token(self, authority: str | None = SENDER, *, role: str = "authority") -> str:
        """A client's token (an authority's, by default), made with `exchange clients create`."""
        done = subprocess.run(
            [
                *exchange_command(),
                "clients",
                "create",
                "--name",
                f"transfer jobs {authority or role}",
                "--role",
                role,
                *(["--authority", authority] if authority else []),
            ],
            env=self.env,
            capture_output=True,
            timeout=READY_SECONDS,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout.decode().strip().splitlines()[-1]

    def transfers(self) -> Counter[tuple[str, str]]:
        """Transfers in the database: (LA child id, receiving DfE code) -> how many.

        Read from the sealed records themselves (decrypted with the test keys), so a child counts
        only if its record really arrived.
        """
        from exchange.authorities import load_registry
        from exchange.crypto import Keyring
        from exchange.transfers.models import Transfer, TransferChild
        from exchange.vault.service import open_blob

        registry = load_registry()
        keyring = Keyring.parse(os.environ["EXCHANGE_ENCRYPTION_KEYS"])
        engine = create_engine(self.count_url)
        found: Counter[tuple[str, str]] = Counter()
        try:
            with Session(engine) as session:
                rows = session.execute(
                    select(Transfer.to_authority, TransferChild.record_blob_id).join(
                        TransferChild, TransferChild.transfer_id == Transfer.id
                    )
                ).all()
                for to_gss, blob_id in rows:
                    record = json.loads(open_blob(session, blob_id, keyring))
                    receiver = registry.get(to_gss)
                    code = receiver.dfe_code if receiver and receiver.dfe_code else to_gss
                    for ident in record["child"]["identifiers"]:
                        if ident["system"] == "la_child_id":
                            found[(ident["value"], code)] += 1
        finally:
            engine.dispose()
        return found

    def per_child(self) -> Counter[str]:
        """How many transfers carry each LA child id (whatever the receiver)."""
        counts: Counter[str] = Counter()
        for (child, _), n in self.transfers().items():
            counts[child] += n
        return counts


def _admin_url() -> str:
    assert TEST_DATABASE_URL
    return make_url(TEST_DATABASE_URL).set(database="postgres").render_as_string(False)


def _scratch_url() -> str:
    assert TEST_DATABASE_URL
    return make_url(TEST_DATABASE_URL).set(database=SCRATCH_DATABASE).render_as_string(False)


def _recreate_scratch(drop_only: bool = False) -> None:
    engine = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}" WITH (FORCE)'))
            if not drop_only:
                connection.execute(text(f'CREATE DATABASE "{SCRATCH_DATABASE}"'))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A running exchange with an authority client for Barking and Dagenham (301).

    The url is ``service.url``, the token ``service.token``; ``service.transfers()`` counts what
    arrived per LA child id and receiver. Stopped (and its scratch database dropped) at the end.
    """
    directory = tmp_path_factory.mktemp("service")
    if ON_POSTGRES:
        _recreate_scratch()
        url = _scratch_url()
    else:
        url = f"sqlite:///{directory / 'exchange.db'}"
    running = Service(directory, url)
    try:
        running.start()
        running.token = running.create_token(SENDER)
        yield running
    finally:
        running.stop()
        if ON_POSTGRES:
            _recreate_scratch(drop_only=True)


# --- a TCP proxy between the service and PostgreSQL ---------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; ``cut()`` drops the listener and every connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None

    def start(self) -> None:
        """Listen (again) on the same port."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """As if the database server went away: refuse new connections, reset open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            open_sockets, self._sockets = self._sockets, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut while we connected
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the other direction's pump
                sock.close()
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)


@pytest.fixture
def postgres_proxy() -> Iterator[TcpProxy]:
    """A proxy in front of the PostgreSQL server of EXCHANGE_TEST_DATABASE_URL."""
    assert TEST_DATABASE_URL
    url = make_url(TEST_DATABASE_URL)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    yield proxy
    proxy.cut()


@pytest.fixture
def proxied_service(
    service: Service, postgres_proxy: TcpProxy, tmp_path: Path
) -> Iterator[Service]:
    """A second service on the module's scratch database, reaching PostgreSQL through the proxy."""
    via_proxy = make_url(service.database_url).set(host="127.0.0.1", port=postgres_proxy.port)
    running = Service(
        tmp_path / "proxied",
        via_proxy.render_as_string(False),
        count_url=service.database_url,
    )
    try:
        running.start()
        running.token = service.token  # same database, same client
        yield running
    finally:
        running.stop()


# --- census files --------------------------------------------------------------------------------

CENSUS_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<Message>
  <Header>
    <CollectionDetails>
      <Collection>CIN</Collection>
      <Year>2026</Year>
      <ReferenceDate>2026-03-31</ReferenceDate>
    </CollectionDetails>
    <Source>
      <SourceLevel>L</SourceLevel>
      <LEA>{lea}</LEA>
      <SoftwareCode>Fictional CMS</SoftwareCode>
      <Release>1.0</Release>
      <SerialNo>001</SerialNo>
      <DateTime>2026-04-02T09:30:00</DateTime>
    </Source>
  </Header>
  <Children>
"""

CENSUS_CHILD = """    <Child>
      <ChildIdentifiers>
        <LAchildID>{la_child_id}</LAchildID>
        <UPNunknown>UN1</UPNunknown>
        <PersonBirthDate>{birth_date}</PersonBirthDate>
        <Sex>{sex}</Sex>
      </ChildIdentifiers>
      <ChildCharacteristics>
        <Ethnicity>{ethnicity}</Ethnicity>
      </ChildCharacteristics>
      <CINdetails>
        <CINreferralDate>2025-06-02</CINreferralDate>
        <ReferralSource>2A</ReferralSource>
        <PrimaryNeedCode>{need}</PrimaryNeedCode>
        <ReferralNFA>0</ReferralNFA>
        <ChildProtectionPlans>
          <CPPstartDate>2025-07-14</CPPstartDate>
          <CPPendDate>{plan_end}</CPPendDate>
          <InitialCategoryOfAbuse>NEG</InitialCategoryOfAbuse>
          <LatestCategoryOfAbuse>NEG</LatestCategoryOfAbuse>
          <NumberOfPreviousCPP>0</NumberOfPreviousCPP>
        </ChildProtectionPlans>
      </CINdetails>
    </Child>
"""


class Census:
    """Writes CIN census returns into a test's folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def child(la_child_id: str, n: int = 1, **values: str) -> str:
        """One Child that converts without errors (``values`` override fields, raw XML text)."""
        fields = {
            "la_child_id": la_child_id,
            "birth_date": (dt.date(2008, 1, 1) + dt.timedelta(days=(n * 53) % 5400)).isoformat(),
            "sex": "FM"[n % 2],
            "ethnicity": "WBRI",
            "need": "N1",
            "plan_end": "2026-02-27",
            **values,
        }
        return CENSUS_CHILD.format(**fields)

    def write(self, name: str, children: Iterable[str], lea: str = SENDER) -> Path:
        """A census file holding ``children`` (each from :meth:`child`)."""
        path = self.directory / name
        document = CENSUS_HEADER.format(lea=lea) + "".join(children) + "  </Children>\n</Message>\n"
        path.write_text(document, encoding="utf-8")
        return path

    def clean(self, name: str, ids: Iterable[str], lea: str = SENDER) -> Path:
        """A census of children with these LA child ids, every one of them sendable."""
        return self.write(name, (self.child(i, n) for n, i in enumerate(ids, 1)), lea)


@pytest.fixture
def census(tmp_path: Path) -> Census:
    """Writes census files for the test."""
    return Census(tmp_path)


# --- running jobs --------------------------------------------------------------------------------


@dataclass
class JobRun:
    """A finished `exchange job ...` command."""

    returncode: int
    stdout: str
    stderr: str
    directory: Path | None

    @property
    def output(self) -> str:
        """Everything it printed."""
        return self.stdout + self.stderr


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class Jobs:
    """Runs `exchange job` commands in a folder of jobs of its own."""

    jobs_dir: Path
    service: Service | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, token: str | None = None) -> dict[str, str]:
        """The job's environment: no EXCHANGE_ settings but the token."""
        token = token if token is not None else (self.service.token if self.service else "")
        return clean_environment(EXCHANGE_TOKEN=token, **self.extra_env)

    def command(self, *args: str, server: bool = True) -> list[str]:
        """`exchange job ARGS --jobs-dir DIR` (and --server URL for `run` when there is one)."""
        extra = ["--jobs-dir", str(self.jobs_dir)]
        if server and args and args[0] == "run" and self.service is not None:
            extra += ["--server", self.service.url]
        return [*exchange_command(), "job", *args, *extra]

    def start(self, *args: str, token: str | None = None) -> subprocess.Popen[bytes]:
        """Start a job command without waiting for it."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            self.command(*args),
            env=self.env(token),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # A suite started in the background inherits SIGINT ignored; a job started from a
            # terminal has it, and the Ctrl-C test sends it.
            preexec_fn=_default_sigint,
        )
        self.started.append(process)
        return process

    def close(self) -> None:
        """Kill any job command still running (a failed test) and close every pipe."""
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.communicate()
        self.started.clear()

    def run(self, *args: str, token: str | None = None, timeout: float = JOB_SECONDS) -> JobRun:
        """Run a job command to its end."""
        before = set(self.directories())
        process = self.start(*args, token=token)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            pytest.fail(
                f"`exchange job {' '.join(args)}` ran over {timeout:.0f} s:\n{err.decode()}"
            )
        new = [d for d in self.directories() if d not in before]
        directory = new[0] if len(new) == 1 else None
        return JobRun(process.returncode, out.decode(), err.decode(), directory)

    def directories(self) -> list[Path]:
        """Every job folder so far."""
        if not self.jobs_dir.exists():
            return []
        return sorted(p for p in self.jobs_dir.iterdir() if p.is_dir())

    @staticmethod
    def journal_counts(directory: Path) -> dict[str, int]:
        """How many records of a (possibly running) job are in each state."""
        path = directory / "journal.sqlite"
        if not path.exists():
            return {}
        try:
            connection = sqlite3.connect(path, timeout=30)
            try:
                query = "SELECT status, COUNT(*) FROM records GROUP BY status"
                return dict(connection.execute(query).fetchall())
            finally:
                connection.close()
        except sqlite3.OperationalError:
            return {}  # the job has not created its tables yet

    @staticmethod
    def report(directory: Path) -> list[dict[str, str]]:
        """The rows of a job's report.csv."""
        with (directory / "report.csv").open(newline="", encoding="utf-8") as source:
            return list(csv.DictReader(source))

    @staticmethod
    def html_rows(directory: Path) -> list[dict[str, str]]:
        """The rows of the table of records not sent in a job's report.html, by column heading."""
        from lxml import html

        page = html.fromstring((directory / "report.html").read_bytes())
        tables = page.xpath("//table[thead]")
        if not tables:
            return []
        headings = [th.text_content().strip() for th in tables[0].xpath("./thead/tr/th")]
        return [
            dict(zip(headings, (td.text_content().strip() for td in tr.xpath("./td")), strict=True))
            for tr in tables[0].xpath("./tbody/tr")
        ]


@pytest.fixture
def jobs(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Jobs]:
    """Job commands with their own jobs folder, sending to the module's service if it uses one."""
    running = request.getfixturevalue("service") if "service" in request.fixturenames else None
    commands = Jobs(tmp_path / "jobs", running)
    yield commands
    commands.close()


@pytest.fixture(scope="module")
def module_jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jobs]:
    """Job commands shared by a module's tests (for runs that several tests read), no service."""
    commands = Jobs(tmp_path_factory.mktemp("jobs"))
    yield commands
    commands.close()


@pytest.fixture
def fixtures_dir() -> Path:
    """tests/fixtures/jobs."""
    return FIXTURES

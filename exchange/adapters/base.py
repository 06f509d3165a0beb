"""The adapter interface: a source in, a stream of records and problems out, and the way back.

Adapters are pure translators. They never touch the database or the network, and they stream:
one record is built, yielded and forgotten before the next is read, so memory stays flat however
large the export. Three problem families, as in singer-sdk:

- **fatal**: the input as a whole cannot be read (malformed XML, a forbidden DTD, no file with
  the columns needed). The adapter raises :class:`InputUnreadable`; nothing more is read.
- **skippable**: one record cannot be built. Its :class:`ReadResult` has ``record=None`` and
  the problems say why; the caller reports it and carries on.
- **warnings** (and rule errors) ride along with a record that was built.

Every problem names where (``location``: file, line/row, column or element path; ``pointer``
into the canonical record where one applies), what (a stable ``code``) and how to fix it.
"""

from __future__ import annotations

import abc
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

from pydantic import ValidationError

from exchange.canonical import ChildRecord, Problem, RuleContext, Severity, check_record
from exchange.canonical.model import SourceLocation


class InputUnreadable(Exception):
    """The input cannot be read at all: a fatal problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def fatal(
    code: str, message: str, fix: str, location: SourceLocation | None = None
) -> InputUnreadable:
    """An :class:`InputUnreadable` carrying one fatal problem."""
    return InputUnreadable(
        Problem(code=code, severity=Severity.FATAL, message=message, fix=fix, location=location)
    )


def problem(
    code: str,
    message: str,
    fix: str,
    location: SourceLocation | None = None,
    *,
    severity: Severity = Severity.ERROR,
    pointer: str | None = None,
    dfe_rule: str | None = None,
) -> Problem:
    """A problem found while reading a source."""
    return Problem(
        code=code,
        severity=severity,
        message=message,
        fix=fix,
        location=location,
        pointer=pointer,
        dfe_rule=dfe_rule,
    )


def locate(where: SourceLocation | Callable[[], SourceLocation] | None) -> SourceLocation | None:
    """A record's location from what an adapter gave: the location, or how to make it."""
    return where() if callable(where) else where


@dataclass(slots=True)
class ReadResult:
    """One record read from a source (or, when ``record`` is None, one that could not be)."""

    record: ChildRecord | None
    problems: list[Problem] = field(default_factory=list)
    key: str | None = None
    where: SourceLocation | Callable[[], SourceLocation] | None = None
    _location: SourceLocation | None = field(default=None, repr=False)

    @property
    def location(self) -> SourceLocation | None:
        """Where the record starts in the source (made when first asked for)."""
        if self._location is None:
            self._location = locate(self.where)
        return self._location

    @property
    def skipped(self) -> bool:
        """The record could not be built and is reported instead."""
        return self.record is None

    @property
    def has_errors(self) -> bool:
        """Any problem other than a warning."""
        return any(p.severity != Severity.WARNING for p in self.problems)


class _CountingRaw(io.RawIOBase):
    """Reports every byte read, so a progress bar can show rate and time left."""

    def __init__(self, inner: IO[bytes], progress: Callable[[int], None]) -> None:
        self.inner = inner
        self.progress = progress

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.inner.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.inner.seek(offset, whence)

    def tell(self) -> int:
        return self.inner.tell()

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.progress(len(data))
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file of a source: a name to report and a way to open it for reading (bytes)."""

    name: str
    path: Path | None = None
    data: bytes | None = None
    progress: Callable[[int], None] | None = None

    def open(self) -> IO[bytes]:
        """Open the file for binary reading."""
        inner: IO[bytes] = (
            self.path.open("rb") if self.path is not None else io.BytesIO(self.data or b"")
        )
        if self.progress is None:
            return inner
        return io.BufferedReader(_CountingRaw(inner, self.progress), buffer_size=1 << 16)

    @property
    def size(self) -> int:
        """Size in bytes."""
        return self.path.stat().st_size if self.path is not None else len(self.data or b"")


@dataclass(frozen=True, slots=True)
class Source:
    """What an adapter reads: a file, a folder of files, or bytes sent over the API."""

    files: tuple[SourceFile, ...]
    name: str

    @classmethod
    def from_path(cls, path: str | Path) -> Source:
        """A file, or every file directly inside a folder (sorted by name)."""
        path = Path(path)
        if path.is_dir():
            # Hidden files (.DS_Store, editor swap files) are not part of an export.
            found = tuple(
                SourceFile(p.name, path=p)
                for p in sorted(path.iterdir())
                if p.is_file() and not p.name.startswith(".")
            )
            return cls(found, str(path))
        return cls((SourceFile(path.name, path=path),), str(path))

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "upload") -> Source:
        """One file held in memory."""
        return cls((SourceFile(name, data=data),), name)

    @classmethod
    def from_files(cls, files: dict[str, bytes], name: str = "upload") -> Source:
        """Several named files held in memory (a CSV set sent over the API)."""
        return cls(tuple(SourceFile(n, data=d) for n, d in sorted(files.items())), name)

    @property
    def size(self) -> int:
        """Total size in bytes of every file."""
        return sum(f.size for f in self.files)

    def with_progress(self, progress: Callable[[int], None]) -> Source:
        """The same source, reporting bytes read to ``progress``."""
        return Source(
            tuple(SourceFile(f.name, f.path, f.data, progress) for f in self.files), self.name
        )

    def single(self, adapter: str) -> SourceFile:
        """The one file of a single-file format, or a fatal problem."""
        if len(self.files) != 1:
            raise fatal(
                "source-not-one-file",
                f"The {adapter} adapter reads one file; {self.name} holds {len(self.files)}.",
                "Give the path of the export file itself.",
            )
        return self.files[0]


class Adapter(abc.ABC):
    """Translates one export format to canonical records and, where it can, back."""

    name: ClassVar[str]
    title: ClassVar[str]
    formats: ClassVar[tuple[str, ...]]
    versions: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "1"
    reads: ClassVar[bool] = True
    writes: ClassVar[bool] = False

    def __init__(self, context: RuleContext | None = None) -> None:
        self.context = context or default_rule_context()

    @abc.abstractmethod
    def read(self, source: Source) -> Iterator[ReadResult]:
        """Yield one result per record in the source; raise InputUnreadable if it cannot be read."""

    def write(self, records: Iterable[ChildRecord], out: IO[bytes]) -> list[Problem]:
        """Write records in this format; returns the problems of records it could not write."""
        raise NotImplementedError(f"the {self.name} adapter does not write")

    # -- helpers for subclasses ---------------------------------------------------------------

    def finish(
        self,
        data: dict[str, Any],
        *,
        key: str | None,
        location: SourceLocation | Callable[[], SourceLocation],
        problems: list[Problem],
    ) -> ReadResult:
        """Build the record from plain data, run the canonical rules, attach the location."""
        provenance = data.setdefault("provenance", {})
        provenance.setdefault("adapter", self.name)
        provenance.setdefault("adapter_version", self.version)
        try:
            record = ChildRecord.model_validate(data)
        except ValidationError as exc:
            resolved = location if isinstance(location, SourceLocation) else location()
            for error in exc.errors():
                where = "/" + "/".join(str(p) for p in error["loc"])
                problems.append(
                    problem(
                        "record-not-built",
                        f"The record could not be built: {error['msg']} at {where}.",
                        "Correct the value in the source export.",
                        resolved,
                        pointer=where,
                    )
                )
            return ReadResult(None, problems, key, location)
        found_problems = check_record(record, self.context)
        if found_problems:
            at = location if isinstance(location, SourceLocation) else location()
            problems.extend(p.model_copy(update={"location": at}) for p in found_problems)
        return ReadResult(record, problems, key, location)


def default_rule_context() -> RuleContext:
    """Rules checked against the shipped authority register."""
    from exchange.authorities import load_registry

    registry = load_registry()
    return RuleContext(
        is_known_authority=lambda code: registry.get(code) is not None,
        known_dfe_codes=frozenset(a.dfe_code for a in registry if a.dfe_code),
    )

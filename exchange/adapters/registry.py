"""The adapter registry: built-in adapters and third-party ones, all through entry points.

A package adds an adapter by declaring, in its pyproject.toml::

    [project.entry-points."exchange.adapters"]
    my-system = "my_package.adapter:MySystemAdapter"

Entry points are listed once; an adapter's module is imported only when it is asked for.
"""

from __future__ import annotations

import functools
import logging
from importlib.metadata import EntryPoint, entry_points

from exchange.adapters.base import Adapter

GROUP = "exchange.adapters"
log = logging.getLogger("exchange.adapters")


class UnknownAdapter(LookupError):
    """No adapter has that name (or it could not be loaded)."""


@functools.cache
def _entries() -> dict[str, EntryPoint]:
    return {entry.name: entry for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name)}


def names() -> list[str]:
    """The names of every installed adapter."""
    return list(_entries())


@functools.cache
def get_adapter(name: str) -> type[Adapter]:
    """The adapter class with this name."""
    entry = _entries().get(name)
    if entry is None:
        known = ", ".join(_entries()) or "none"
        raise UnknownAdapter(f"No adapter is called {name!r}; installed: {known}.")
    try:
        cls = entry.load()
    except Exception as exc:
        log.exception("adapter %s could not be loaded", name)
        raise UnknownAdapter(f"The adapter {name!r} is installed but could not be loaded.") from exc
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise UnknownAdapter(f"The entry point {name!r} is not an exchange Adapter.")
    return cls


def adapters() -> dict[str, type[Adapter]]:
    """Every installed adapter that loads, by name."""
    found: dict[str, type[Adapter]] = {}
    for name in names():
        try:
            found[name] = get_adapter(name)
        except UnknownAdapter:
            continue
    return found

"""The adapter registry: built-in adapters and third-party ones, all through entry points.

A package adds an adapter by declaring, in its pyproject.toml::

    [project.entry-points."exchange.adapters"]
    my-system = "my_package.adapter:MySystemAdapter"
"""

from __future__ import annotations

import functools
import logging
from importlib.metadata import entry_points

from exchange.adapters.base import Adapter

GROUP = "exchange.adapters"
log = logging.getLogger("exchange.adapters")


class UnknownAdapter(LookupError):
    """No adapter has that name."""


@functools.cache
def _load() -> dict[str, type[Adapter]]:
    found: dict[str, type[Adapter]] = {}
    for entry in entry_points(group=GROUP):
        try:
            cls = entry.load()
        except Exception:
            log.exception("adapter %s could not be loaded", entry.name)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Adapter)):
            log.error("entry point %s is not an Adapter subclass", entry.name)
            continue
        found[cls.name] = cls
    return dict(sorted(found.items()))


def adapters() -> dict[str, type[Adapter]]:
    """Every installed adapter by name."""
    return _load()


def get_adapter(name: str) -> type[Adapter]:
    """The adapter class with this name."""
    try:
        return _load()[name]
    except KeyError:
        known = ", ".join(_load()) or "none"
        raise UnknownAdapter(f"No adapter is called {name!r}; installed: {known}.") from None

"""Routing: which authority receives each record, for reorganisations and mixed caseloads.

A routing file (YAML) says, in the order they are tried::

    by_la_child_id:          # an explicit table: the sending authority's id -> receiver
      C000123: "940"
    by_postcode:             # the child's current address: longest matching prefix wins
      NN1: "941"             # a district, "NN1 2" a sector, "NN" an area
      NN8: "940"
    default: "941"           # everything else (leave out to report unrouted records)

Receivers are DfE 3-digit or GSS codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from exchange.canonical import ChildRecord
from exchange.canonical.codes import IdentifierSystem
from exchange.canonical.identifiers import normalise_partial_postcode, normalise_postcode


class RoutingFile(BaseModel):
    """The routing file's shape."""

    model_config = ConfigDict(extra="forbid")

    by_la_child_id: dict[str, str] = Field(default_factory=dict)
    by_postcode: dict[str, str] = Field(default_factory=dict)
    default: str | None = None


def _as_text(data: object) -> object:
    """Authority codes and ids written as bare YAML numbers (941, 12345) are read as text."""
    if isinstance(data, dict):
        return {
            (str(k) if isinstance(k, int | float) else k): (
                _as_text(v) if isinstance(v, dict) else str(v) if isinstance(v, int | float) else v
            )
            for k, v in data.items()
        }
    return data


class RoutingError(ValueError):
    """The routing file cannot be used."""


@dataclass(frozen=True)
class Route:
    """Where a record goes and why."""

    to_authority: str | None
    reason: str


@dataclass
class Router:
    """Decides the receiving authority per record."""

    fixed: str | None = None
    by_id: dict[str, str] = field(default_factory=dict)
    by_postcode: dict[str, str] = field(default_factory=dict)
    default: str | None = None

    @classmethod
    def load(cls, path: Path) -> Router:
        """Read a routing file, with clear errors."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            spec = RoutingFile.model_validate(_as_text(data))
        except yaml.YAMLError as exc:
            raise RoutingError(f"{path}: not YAML: {exc}") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise RoutingError(f"{path}: {where}: {first['msg']}") from exc
        postcodes = {}
        for prefix, authority in spec.by_postcode.items():
            # Written the way exports write them ("NN168DN", "nn16 8"): compared normalised.
            key = normalise_postcode(prefix) or normalise_partial_postcode(prefix)
            postcodes[key or " ".join(prefix.upper().split())] = str(authority)
        return cls(by_id=dict(spec.by_la_child_id), by_postcode=postcodes, default=spec.default)

    def route(self, record: ChildRecord) -> Route:
        """The receiver of one record."""
        if self.fixed is not None:
            return Route(self.fixed, "--to")
        for ident in record.child.identifiers:
            if ident.system == IdentifierSystem.LA_CHILD_ID and ident.value in self.by_id:
                return Route(self.by_id[ident.value], f"la_child_id {ident.value}")
        postcode = current_postcode(record)
        if postcode and self.by_postcode:
            for prefix in postcode_prefixes(postcode):
                if prefix in self.by_postcode:
                    return Route(self.by_postcode[prefix], f"postcode {prefix}")
        if self.default is not None:
            return Route(self.default, "default")
        return Route(
            None,
            f"no route for postcode {postcode}" if postcode else "no route and no current address",
        )


def current_postcode(record: ChildRecord) -> str | None:
    """The postcode of the child's current address (open, latest started)."""
    current = [a for a in record.child.addresses if a.end_date is None and a.postcode]
    if not current:
        return None
    latest = max(current, key=lambda a: a.start_date.toordinal() if a.start_date else 0)
    assert latest.postcode is not None
    return normalise_postcode(latest.postcode) or normalise_partial_postcode(latest.postcode)


def postcode_prefixes(postcode: str) -> list[str]:
    """The unit, sector, district and area of a postcode, most specific first."""
    outward, _, inward = postcode.partition(" ")
    area = ""
    for char in outward:
        if not char.isalpha():
            break
        area += char
    candidates = [postcode, f"{outward} {inward[:1]}" if inward else "", outward, area]
    return [c for c in dict.fromkeys(candidates) if c]

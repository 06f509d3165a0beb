"""Adapters: each authority's exports to the canonical record and back."""

from exchange.adapters.base import (
    Adapter,
    InputUnreadable,
    ReadResult,
    Source,
    SourceFile,
    default_rule_context,
)
from exchange.adapters.registry import UnknownAdapter, adapters, get_adapter, names

__all__ = [
    "Adapter",
    "InputUnreadable",
    "ReadResult",
    "Source",
    "SourceFile",
    "UnknownAdapter",
    "adapters",
    "default_rule_context",
    "get_adapter",
    "names",
]

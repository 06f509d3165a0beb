"""The canonical child record: the one schema every authority's export is translated into."""

from exchange.canonical.model import SCHEMA_VERSION, ChildRecord
from exchange.canonical.problems import Problem, Severity
from exchange.canonical.rules import RULES, RuleContext, check_record
from exchange.canonical.validation import ValidationReport, validate_document

__all__ = [
    "RULES",
    "SCHEMA_VERSION",
    "ChildRecord",
    "Problem",
    "RuleContext",
    "Severity",
    "ValidationReport",
    "check_record",
    "validate_document",
]

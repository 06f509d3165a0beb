"""Problems: what is wrong, where, and how to fix it, in one shape for every part of the exchange."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from exchange.canonical.model import SourceLocation


class Severity(StrEnum):
    """An error makes a record wrong; a warning makes it doubtful; a fatal problem means the
    input as a whole cannot be read."""

    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"


class Problem(BaseModel):
    """One thing wrong with a record or an input."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(description="Stable identifier of the kind of problem.")
    severity: Severity
    message: str = Field(description="What is wrong, in a sentence.")
    fix: str = Field(description="How to put it right, in a sentence.")
    pointer: str | None = Field(
        default=None, description="JSON pointer (RFC 6901) into the record, where there is one."
    )
    location: SourceLocation | None = Field(
        default=None, description="Where in the source export, for problems found by an adapter."
    )
    dfe_rule: str | None = Field(default=None, description="The DfE validation rule, if any.")


def pointer(*parts: str | int) -> str:
    """A JSON pointer from path segments, escaping ~ and / as RFC 6901 requires."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)

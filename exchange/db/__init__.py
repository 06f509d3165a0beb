"""Database access: engine and sessions, the declarative base, and migrations."""

from exchange.db.base import Base
from exchange.db.session import (
    SessionDep,
    StreamingSessionDep,
    committing,
    get_engine,
    get_session,
    run_committing,
    session_scope,
)

__all__ = [
    "Base",
    "SessionDep",
    "StreamingSessionDep",
    "committing",
    "get_engine",
    "get_session",
    "run_committing",
    "session_scope",
]

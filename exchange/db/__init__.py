"""Database access: engine and sessions, the declarative base, and migrations."""

from exchange.db.base import Base
from exchange.db.session import SessionDep, get_engine, get_session, session_scope

__all__ = ["Base", "SessionDep", "get_engine", "get_session", "session_scope"]

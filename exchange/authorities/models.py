"""Tables of the authority registry."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db.base import Base
from exchange.db.types import UTCDateTime, utcnow


class AuthorityRow(Base):
    """An English children's services authority, current or abolished."""

    __tablename__ = "authorities"

    gss_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    dfe_code: Mapped[str | None] = mapped_column(String(3), index=True)
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    region: Mapped[str] = mapped_column(String(100))
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    successor_gss_codes: Mapped[str] = mapped_column(
        String(200), default="", doc="Space-separated GSS codes of the successors."
    )

    def is_current_on(self, day: dt.date) -> bool:
        """Whether the authority exists on the day."""
        return self.end_date is None or self.end_date > day


class ApiClient(Base):
    """A system allowed to call the API, for one authority (or nationally) in one role."""

    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    authority_gss: Mapped[str | None] = mapped_column(
        ForeignKey("authorities.gss_code"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    previous_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    previous_valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

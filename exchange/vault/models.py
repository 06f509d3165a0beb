"""The table of sealed blobs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db.base import Base
from exchange.db.types import IdColumn, UTCDateTime, new_id, utcnow


class Blob(Base):
    """Case content sealed with AES-GCM under its own data key, wrapped by key ``key_id``."""

    __tablename__ = "blobs"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    purpose: Mapped[str] = mapped_column(String(20))
    key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

"""What the API says about an authority."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class AuthorityRef(BaseModel):
    """A short reference to another authority."""

    gss_code: str
    dfe_code: str | None
    name: str


class AuthorityOut(BaseModel):
    """An English children's services authority."""

    gss_code: str = Field(examples=["E09000007"])
    dfe_code: str | None = Field(examples=["202"])
    name: str = Field(examples=["London Borough of Camden"])
    short_name: str = Field(examples=["Camden"])
    kind: str = Field(examples=["london_borough"])
    region: str
    start_date: dt.date | None
    end_date: dt.date | None = Field(description="The day it was abolished, if it has been.")
    current: bool
    successors: list[AuthorityRef] = Field(default_factory=list)


class AuthorityList(BaseModel):
    """Authorities, by name."""

    items: list[AuthorityOut]
    count: int

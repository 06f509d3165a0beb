"""The statutory clock: when a transfer must be acknowledged and the transfer-in conference held.

The rule, as a worker would count it on a calendar:

- A **working day** is Monday to Friday, except the England and Wales bank holidays (the
  ``holidays`` package's ``GB``/``ENG`` calendar: substitute days when a holiday falls on a
  weekend, and one-off days such as the 2022 State Funeral and the 2023 Coronation).
- Every instant is first turned into its **date in London** (``Europe/London``: GMT in winter, BST
  in summer). A transfer sent at 23:30 UTC on a Friday in July was sent on Saturday in London.
- Counting starts the day *after* the event: **day 0** is the event's own London date, **day 1**
  is the first working day after it (whether or not the event fell on a working day), day *n* the
  *n*-th working day after it. A Monday start makes day 15 the Monday three weeks later; a
  Saturday start makes day 1 the Monday (or Tuesday, after a bank holiday Monday).
- The **acknowledgement** is due by the end (23:59:59.999999 London time) of day 1 after the
  London date the transfer was sent; it is returned as a UTC instant, so the instant is an hour
  earlier in summer than in winter.
- The **transfer-in conference** is due on day 15 after the London date the clock started.
  Procedures differ on which event starts it (``ClockStart``). Until that event has happened the
  due date shown is the latest it can be if the event happens on time: day 15 after the
  acknowledgement due day. Receipt cannot come later than the acknowledgement, so this bound
  holds for ``RECEIPT`` and ``ACKNOWLEDGEMENT``; no procedure sets a deadline for acceptance, so
  for ``ACCEPTANCE`` an acceptance is expected no later than the acknowledgement and the same
  bound is shown (it moves later if acceptance is late).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")
TRANSFER_IN_CONFERENCE_WORKING_DAYS = 15

_SATURDAY = 5
_ONE_DAY = timedelta(days=1)


class ClockStart(StrEnum):
    """The event that starts the 15 working days, as local procedures differ."""

    NOTIFICATION = "notification"  # the sending authority's written notification (transfer sent)
    RECEIPT = "receipt"  # the receiving authority first reads the written information
    ACKNOWLEDGEMENT = "acknowledgement"  # the receiving authority acknowledges the transfer
    ACCEPTANCE = "acceptance"  # the receiving authority accepts the transfer


DEFAULT_CLOCK_START = ClockStart.ACKNOWLEDGEMENT


@dataclass(frozen=True)
class ClockDates:
    """When a transfer's acknowledgement and transfer-in conference are due."""

    acknowledgement_due: datetime
    conference_due: date
    conference_clock_started: bool


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    """England and Wales bank holidays (substitute days included) that fall in the year."""
    # Neighbouring years too, in case a substitute day is ever carried across the new year.
    calendar = holidays.country_holidays("GB", subdiv="ENG", years=range(year - 1, year + 2))
    return frozenset(day for day in calendar if day.year == year)


def is_working_day(day: date) -> bool:
    """Whether the day is a working day: Monday to Friday and not a bank holiday in England."""
    return day.weekday() < _SATURDAY and day not in _bank_holidays(day.year)


def warm_up(today: date) -> None:
    """Load the bank holiday calendars a transfer sent today needs, before the first request."""
    for year in (today.year, today.year + 1):
        _bank_holidays(year)


# The counts below are pure functions of dates; nearly every transfer of a day asks the same.
@lru_cache(maxsize=4096)
def next_working_day(day: date) -> date:
    """The first working day strictly after the day."""
    day += _ONE_DAY
    while not is_working_day(day):
        day += _ONE_DAY
    return day


@lru_cache(maxsize=4096)
def add_working_days(start: date, n: int) -> date:
    """Day n counted from start: start itself for 0, else the n-th working day after start."""
    if n < 0:
        raise ValueError(f"cannot count a negative number of working days ({n})")
    day = start
    for _ in range(n):
        day = next_working_day(day)
    return day


@lru_cache(maxsize=4096)
def working_days_between(start: date, end: date) -> int:
    """The number of working days after start up to and including end (0 if end <= start)."""
    count = 0
    day = start + _ONE_DAY
    while day <= end:
        count += is_working_day(day)
        day += _ONE_DAY
    return count


def london_date(at: datetime) -> date:
    """The date in London at the instant; naive datetimes are refused."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is needed, got naive {at.isoformat()}")
    return at.astimezone(LONDON).date()


def _end_of_london_day(day: date) -> datetime:
    # Clocks change at 01:00 UTC on a Sunday, so the last instant of a working day is never ambiguous.
    return datetime.combine(day, time.max, tzinfo=LONDON).astimezone(UTC)


def acknowledgement_due(sent_at: datetime) -> datetime:
    """The end of the next working day after the London date it was sent, as a UTC instant."""
    return _end_of_london_day(next_working_day(london_date(sent_at)))


def conference_due(start_at: datetime) -> date:
    """The date of the 15th working day after the London date of the clock's start."""
    return add_working_days(london_date(start_at), TRANSFER_IN_CONFERENCE_WORKING_DAYS)


def transfer_clock(
    *,
    sent_at: datetime,
    received_at: datetime | None,
    acknowledged_at: datetime | None,
    accepted_at: datetime | None,
    start: ClockStart,
) -> ClockDates:
    """The acknowledgement and conference due dates of a transfer, under the local clock start."""
    for at in (received_at, acknowledged_at, accepted_at):
        if at is not None:
            london_date(at)  # refuse naive datetimes even when they do not start the clock
    acknowledgement_due_day = next_working_day(london_date(sent_at))
    started_at = {
        ClockStart.NOTIFICATION: sent_at,
        ClockStart.RECEIPT: received_at,
        ClockStart.ACKNOWLEDGEMENT: acknowledged_at,
        ClockStart.ACCEPTANCE: accepted_at,
    }[start]
    if started_at is None:
        due = add_working_days(acknowledgement_due_day, TRANSFER_IN_CONFERENCE_WORKING_DAYS)
    else:
        due = conference_due(started_at)
    return ClockDates(
        acknowledgement_due=_end_of_london_day(acknowledgement_due_day),
        conference_due=due,
        conference_clock_started=started_at is not None,
    )


def days_left(due: date, today: date) -> int:
    """Working days left until due: 0 on the due day, negative (at least 1 late) after it."""
    if today <= due:
        return working_days_between(today, due)
    # A weekend straight after the due day is still late: never show 0 once the day has passed.
    return -max(1, working_days_between(due, today))

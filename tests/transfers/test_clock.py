"""The statutory clock, checked against worked examples a user could count on a calendar."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.transfers.clock import (
    TRANSFER_IN_CONFERENCE_WORKING_DAYS,
    ClockDates,
    ClockStart,
    acknowledgement_due,
    add_working_days,
    conference_due,
    days_left,
    is_working_day,
    next_working_day,
    transfer_clock,
    working_days_between,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def end_of_day_utc(year: int, month: int, day: int, *, bst: bool) -> datetime:
    """23:59:59.999999 London time on the day, as the UTC instant."""
    hour = 22 if bst else 23
    return datetime(year, month, day, hour, 59, 59, 999_999, tzinfo=UTC)


# -- working days -------------------------------------------------------------------------------


def test_weekends_are_not_working_days() -> None:
    assert is_working_day(date(2026, 2, 6))  # Friday
    assert not is_working_day(date(2026, 2, 7))  # Saturday
    assert not is_working_day(date(2026, 2, 8))  # Sunday
    assert is_working_day(date(2026, 2, 9))  # Monday


@pytest.mark.parametrize(
    "bank_holiday",
    [
        date(2025, 12, 25),  # Christmas Day, Thursday
        date(2025, 12, 26),  # Boxing Day, Friday
        date(2026, 1, 1),  # New Year's Day, Thursday
        date(2026, 4, 3),  # Good Friday
        date(2026, 4, 6),  # Easter Monday
        date(2022, 9, 19),  # State Funeral of Queen Elizabeth II
        date(2023, 5, 8),  # Coronation of King Charles III
        date(2022, 12, 27),  # substitute day for Christmas Day on a Sunday
        date(2026, 12, 28),  # substitute day for Boxing Day on a Saturday
    ],
)
def test_bank_holidays_are_not_working_days(bank_holiday: date) -> None:
    assert bank_holiday.weekday() < 5
    assert not is_working_day(bank_holiday)


def test_next_working_day_skips_weekends_and_one_off_bank_holidays() -> None:
    assert next_working_day(date(2026, 2, 2)) == date(2026, 2, 3)  # Monday -> Tuesday
    assert next_working_day(date(2026, 2, 6)) == date(2026, 2, 9)  # Friday -> Monday
    assert next_working_day(date(2026, 2, 7)) == date(2026, 2, 9)  # Saturday -> Monday
    assert next_working_day(date(2022, 9, 16)) == date(2022, 9, 20)  # Friday -> after the funeral
    assert next_working_day(date(2023, 5, 5)) == date(2023, 5, 9)  # Friday -> after the coronation


def test_day_zero_is_the_start_and_day_one_the_next_working_day() -> None:
    saturday = date(2026, 2, 7)
    assert add_working_days(saturday, 0) == saturday
    assert add_working_days(saturday, 1) == date(2026, 2, 9)
    with pytest.raises(ValueError, match="negative"):
        add_working_days(saturday, -1)


def test_a_monday_start_is_due_on_the_monday_three_weeks_later() -> None:
    assert add_working_days(date(2026, 2, 2), 15) == date(2026, 2, 23)


def test_christmas_and_new_year_2025_26_push_the_due_date_back_three_days() -> None:
    # Mon 15 Dec: Tue 16 - Wed 24 (7), Mon 29 - Wed 31 (10), Fri 2 Jan (11), Mon 5 - Thu 8 (15).
    assert add_working_days(date(2025, 12, 15), 15) == date(2026, 1, 8)
    assert next_working_day(date(2025, 12, 24)) == date(2025, 12, 29)
    assert next_working_day(date(2025, 12, 31)) == date(2026, 1, 2)


def test_easter_2026_skips_good_friday_and_easter_monday() -> None:
    # Thu 2 Apr: Tue 7 - Fri 10 (4), 13-17 (9), 20-24 (14), Mon 27 (15).
    assert add_working_days(date(2026, 4, 2), 15) == date(2026, 4, 27)
    assert next_working_day(date(2026, 4, 2)) == date(2026, 4, 7)


def test_working_days_between_counts_after_start_up_to_and_including_end() -> None:
    assert working_days_between(date(2026, 2, 2), date(2026, 2, 2)) == 0
    assert working_days_between(date(2026, 2, 2), date(2026, 2, 3)) == 1
    assert working_days_between(date(2026, 2, 6), date(2026, 2, 9)) == 1  # Friday to Monday
    assert working_days_between(date(2026, 2, 2), date(2026, 2, 23)) == 15
    assert working_days_between(date(2025, 12, 24), date(2026, 1, 2)) == 4
    assert working_days_between(date(2026, 2, 23), date(2026, 2, 2)) == 0


# -- acknowledgement ----------------------------------------------------------------------------


def test_a_friday_afternoon_send_is_acknowledged_by_the_end_of_monday_in_summer() -> None:
    sent = utc(2025, 7, 4, 16, 0)  # Friday 17:00 BST
    due = acknowledgement_due(sent)
    assert due == end_of_day_utc(2025, 7, 7, bst=True)  # Monday 23:59:59.999999 BST
    assert due.tzinfo is UTC


def test_a_friday_afternoon_send_is_acknowledged_by_the_end_of_monday_in_winter() -> None:
    sent = utc(2026, 1, 9, 17, 0)  # Friday 17:00 GMT
    assert acknowledgement_due(sent) == end_of_day_utc(2026, 1, 12, bst=False)


def test_a_saturday_send_is_acknowledged_by_the_end_of_monday() -> None:
    assert acknowledgement_due(utc(2025, 7, 5, 10, 0)) == end_of_day_utc(2025, 7, 7, bst=True)


def test_the_day_sent_is_the_london_date_not_the_utc_date() -> None:
    # Thursday 23:30 UTC is Friday 00:30 in London in summer, but still Thursday in winter.
    assert acknowledgement_due(utc(2025, 7, 10, 23, 30)) == end_of_day_utc(2025, 7, 14, bst=True)
    assert acknowledgement_due(utc(2026, 1, 8, 23, 30)) == end_of_day_utc(2026, 1, 9, bst=False)
    # Friday 23:30 in London (22:30 UTC in summer) is still Friday: due end of Monday.
    assert acknowledgement_due(utc(2025, 7, 11, 22, 30)) == end_of_day_utc(2025, 7, 14, bst=True)


def test_the_offset_is_that_of_the_due_day_across_a_clock_change() -> None:
    # Clocks go forward on Sunday 29 March 2026 and back on Sunday 26 October 2025.
    assert acknowledgement_due(utc(2026, 3, 27, 12)) == end_of_day_utc(2026, 3, 30, bst=True)
    assert acknowledgement_due(utc(2025, 10, 24, 12)) == end_of_day_utc(2025, 10, 27, bst=False)


def test_acknowledgement_over_christmas_waits_for_the_first_working_day() -> None:
    sent = utc(2025, 12, 24, 15, 0)  # Christmas Eve, Wednesday
    assert acknowledgement_due(sent) == end_of_day_utc(2025, 12, 29, bst=False)


def test_an_aware_datetime_in_another_zone_is_read_as_the_same_instant() -> None:
    sent = datetime(2025, 7, 11, 1, 30, tzinfo=timezone(timedelta(hours=2)))  # Thu 23:30 UTC
    assert acknowledgement_due(sent) == end_of_day_utc(2025, 7, 14, bst=True)


@pytest.mark.parametrize("clock", [acknowledgement_due, conference_due])
def test_naive_datetimes_are_refused(clock: Callable[[datetime], object]) -> None:
    with pytest.raises(ValueError, match="naive"):
        clock(datetime(2026, 2, 2, 10, 0))


# -- conference ---------------------------------------------------------------------------------


def test_conference_due_counts_from_the_london_date_of_the_start() -> None:
    assert TRANSFER_IN_CONFERENCE_WORKING_DAYS == 15
    assert conference_due(utc(2026, 2, 2, 10, 0)) == date(2026, 2, 23)
    # Sunday 6 July 23:30 UTC is Monday 7 July 00:30 in London: 15 working days on is Mon 28 July.
    assert conference_due(utc(2025, 7, 6, 23, 30)) == date(2025, 7, 28)
    # The same UTC time in winter is still Sunday in London: day 15 is the Friday before.
    assert conference_due(utc(2026, 2, 1, 23, 30)) == date(2026, 2, 20)


SENT = utc(2026, 2, 2, 10, 0)  # Monday; acknowledgement due by the end of Tuesday 3 February
ACK_DUE = end_of_day_utc(2026, 2, 3, bst=False)
RECEIVED = utc(2026, 2, 4, 9, 0)  # Wednesday
ACKNOWLEDGED = utc(2026, 2, 5, 9, 0)  # Thursday
ACCEPTED = utc(2026, 2, 9, 9, 0)  # the Monday after


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (ClockStart.NOTIFICATION, date(2026, 2, 23)),  # Monday 2 Feb + 15
        (ClockStart.RECEIPT, date(2026, 2, 25)),  # Wednesday 4 Feb + 15
        (ClockStart.ACKNOWLEDGEMENT, date(2026, 2, 26)),  # Thursday 5 Feb + 15
        (ClockStart.ACCEPTANCE, date(2026, 3, 2)),  # Monday 9 Feb + 15
    ],
)
def test_each_clock_start_counts_from_its_own_event(start: ClockStart, expected: date) -> None:
    dates = transfer_clock(
        sent_at=SENT,
        received_at=RECEIVED,
        acknowledged_at=ACKNOWLEDGED,
        accepted_at=ACCEPTED,
        start=start,
    )
    assert dates == ClockDates(
        acknowledgement_due=ACK_DUE, conference_due=expected, conference_clock_started=True
    )


def test_the_notification_clock_starts_as_soon_as_the_transfer_is_sent() -> None:
    dates = transfer_clock(
        sent_at=SENT,
        received_at=None,
        acknowledged_at=None,
        accepted_at=None,
        start=ClockStart.NOTIFICATION,
    )
    assert dates.conference_clock_started
    assert dates.conference_due == date(2026, 2, 23)


@pytest.mark.parametrize(
    "start", [ClockStart.RECEIPT, ClockStart.ACKNOWLEDGEMENT, ClockStart.ACCEPTANCE]
)
def test_before_the_start_event_the_due_date_counts_from_the_acknowledgement_due_day(
    start: ClockStart,
) -> None:
    dates = transfer_clock(
        sent_at=SENT, received_at=None, acknowledged_at=None, accepted_at=None, start=start
    )
    # Tuesday 3 Feb + 15 working days.
    assert dates == ClockDates(
        acknowledgement_due=ACK_DUE,
        conference_due=date(2026, 2, 24),
        conference_clock_started=False,
    )


def test_acceptance_clock_waits_for_acceptance_even_once_acknowledged() -> None:
    dates = transfer_clock(
        sent_at=SENT,
        received_at=RECEIVED,
        acknowledged_at=ACKNOWLEDGED,
        accepted_at=None,
        start=ClockStart.ACCEPTANCE,
    )
    assert not dates.conference_clock_started
    assert dates.conference_due == date(2026, 2, 24)


def test_an_early_start_event_brings_the_conference_forward() -> None:
    dates = transfer_clock(
        sent_at=SENT,
        received_at=None,
        acknowledged_at=utc(2026, 2, 2, 11, 0),  # acknowledged the same Monday
        accepted_at=None,
        start=ClockStart.ACKNOWLEDGEMENT,
    )
    assert dates.conference_due == date(2026, 2, 23)


def test_transfer_clock_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        transfer_clock(
            sent_at=SENT,
            received_at=datetime(2026, 2, 4, 9, 0),
            acknowledged_at=None,
            accepted_at=None,
            start=ClockStart.NOTIFICATION,
        )


def test_clock_start_values_are_stable() -> None:
    assert [s.value for s in ClockStart] == [
        "notification",
        "receipt",
        "acknowledgement",
        "acceptance",
    ]


# -- days left ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 2, 2), 15),  # the Monday the clock started
        (date(2026, 2, 20), 1),  # Friday before a Monday due date
        (date(2026, 2, 21), 1),  # the Saturday before
        (date(2026, 2, 23), 0),  # due today
        (date(2026, 2, 24), -1),  # a working day late
        (date(2026, 2, 28), -4),  # Saturday: Tue-Fri have passed
    ],
)
def test_days_left(today: date, expected: int) -> None:
    assert days_left(date(2026, 2, 23), today) == expected


def test_a_weekend_after_the_due_day_is_already_overdue() -> None:
    friday = date(2026, 2, 27)
    assert days_left(friday, date(2026, 2, 28)) == -1
    assert days_left(friday, date(2026, 3, 1)) == -1
    assert days_left(friday, date(2026, 3, 2)) == -1
    assert days_left(friday, date(2026, 3, 3)) == -2


def test_days_left_skips_bank_holidays() -> None:
    assert days_left(date(2026, 4, 7), date(2026, 4, 2)) == 1  # over Easter
    assert days_left(date(2026, 1, 2), date(2025, 12, 24)) == 4  # over Christmas


# -- properties ---------------------------------------------------------------------------------

dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))
counts = st.integers(min_value=0, max_value=40)


@settings(max_examples=200, deadline=None)
@given(start=dates, n=st.integers(min_value=1, max_value=40))
def test_every_counted_day_is_a_working_day(start: date, n: int) -> None:
    assert is_working_day(add_working_days(start, n))


@settings(max_examples=200, deadline=None)
@given(start=dates, n=counts)
def test_counting_one_more_day_lands_strictly_later(start: date, n: int) -> None:
    assert add_working_days(start, n + 1) > add_working_days(start, n)


@settings(max_examples=200, deadline=None)
@given(start=dates, n=counts)
def test_working_days_between_undoes_add_working_days(start: date, n: int) -> None:
    assert working_days_between(start, add_working_days(start, n)) == n


@settings(max_examples=200, deadline=None)
@given(due=dates, offset=st.integers(min_value=-60, max_value=60))
def test_days_left_is_negative_exactly_when_the_due_day_has_passed(due: date, offset: int) -> None:
    today = due + timedelta(days=offset)
    assert (days_left(due, today) < 0) == (today > due)

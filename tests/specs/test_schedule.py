"""Schedules: what KFP's robfig/cron v1 accepts, and the 5-field to 6-field conversion."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from croniter import croniter

from dh_kfp_pulumi.specs import check_schedule, kfp_cron
from dh_kfp_pulumi.specs.schedule import go_duration_seconds, parse_rfc3339


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("5 4 * * *", "0 5 4 * * *"),  # the seed's 04:05 daily
        ("  5  4 * *   * ", "0 5 4 * * *"),
        ("*/15 * * * *", "0 */15 * * * *"),
        ("30 8 1 JAN-MAR mon-fri", "0 30 8 1 JAN-MAR mon-fri"),
        ("0 0 9 ? * 2-6", "0 0 9 ? * 2-6"),  # 6 fields: already KFP's form
        ("0 5 4 * * *", "0 5 4 * * *"),
        ("@daily", "@daily"),
        ("@every 1h30m", "@every 1h30m"),
        ("@every 1.5h", "@every 1.5h"),
    ],
)
def test_kfp_cron(schedule, expected):
    assert kfp_cron(schedule) == expected


def test_five_field_trap_fires_at_the_same_times():
    """The converted 6-field cron fires when the standard 5-field cron does (not hourly)."""
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    standard = croniter("5 4 * * *", start)
    kfp = croniter(kfp_cron("5 4 * * *"), start, second_at_beginning=True)
    for _ in range(3):
        assert standard.get_next(datetime) == kfp.get_next(datetime)
    assert croniter("5 4 * * *", start).get_next(datetime) == datetime(
        2026, 1, 1, 4, 5, tzinfo=timezone.utc
    )


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("", "empty schedule"),
        ("* * *", "3 fields instead of 5 or 6"),
        ("0 0 0 * * * *", "7 fields"),
        ("0 4 L * *", "'L', 'W' and '#' are not supported"),
        ("0 4 15W * *", "'L', 'W' and '#' are not supported"),
        ("0 4 * * 5#3", "'L', 'W' and '#' are not supported"),
        ("0 4 * * 5L", "'L', 'W' and '#' are not supported"),
        ("0 4 * * 7", "day of week '7': 7 is outside 0-6"),
        ("60 4 * * *", "minute '60': 60 is outside 0-59"),
        ("0 24 * * *", "hour '24'"),
        ("0 4 0 * *", "day of month '0'"),
        ("0 4 * 13 *", "month '13'"),
        ("0 4 * FOO *", "'FOO' is not a number or a name (JAN"),
        ("? 4 * * *", "'?' is only allowed in day of month and day of week"),
        ("*/0 4 * * *", "step after '/' must be a positive number"),
        ("10-5 4 * * *", "range start after its end"),
        ("1-2-3 4 * * *", "too many '-'"),
        ("@sometimes", "unknown descriptor '@sometimes'"),
        ("@every tomorrow", "'tomorrow' is not a duration"),
        ("@every 500ms", "shorter than 1s"),
    ],
)
def test_rejected_schedules_say_why_and_what_is_valid(schedule, expected):
    with pytest.raises(ValueError) as exc:
        check_schedule(schedule)
    msg = str(exc.value)
    assert expected in msg
    assert "5-field cron 'min hour dom month dow'" in msg and "@every" in msg


def test_go_durations():
    assert go_duration_seconds("1h30m") == 5400
    assert go_duration_seconds("90s") == 90
    assert go_duration_seconds("1h 30m") is None
    assert go_duration_seconds("") is None


def test_rfc3339():
    assert parse_rfc3339("2026-01-01T02:00:00Z") == datetime(2026, 1, 1, 2, tzinfo=timezone.utc)
    assert parse_rfc3339("2026-01-01T03:00:00.5+01:00") == datetime(
        2026, 1, 1, 2, 0, 0, 500000, tzinfo=timezone.utc
    )
    for bad in ("2026-01-01", "2026-01-01T02:00:00", "2026-13-01T00:00:00Z", "yesterday"):
        with pytest.raises(ValueError, match="RFC 3339"):
            parse_rfc3339(bad)


@pytest.mark.parametrize(
    "cron",
    ["0 0 0 31 2 *", "0 0 0 30-31 2 *", "0 0 0 31 4,6,9,11 *", "0 0 0 29 2 *", "0 0 0 31 2 1",
     "0 0 0 31 */2 *", "0 0 0 */10 2 *", "0 0 0 31 1-2 *", "0 0 0 30,31 feb ?"],
)  # fmt: skip
def test_never_fires_agrees_with_croniter_over_five_years(cron):
    """`never_fires` reasons on day of month and month; croniter, iterating the same
    normalized cron from a leap year's eve, finds no tick in five years exactly then."""
    from croniter import CroniterBadDateError

    from dh_kfp_pulumi import kfp_cron as grammar

    parsed = grammar.parse(cron)
    start = datetime(2027, 12, 31, tzinfo=timezone.utc)
    it = croniter(parsed.cron, start, second_at_beginning=True, day_or=parsed.day_or,
                  max_years_between_matches=5)  # fmt: skip
    try:
        fires = (it.get_next(datetime) - start).days <= 5 * 366
    except CroniterBadDateError:
        fires = False
    assert grammar.never_fires(parsed) == (not fires)

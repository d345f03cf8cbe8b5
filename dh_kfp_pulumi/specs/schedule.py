"""Task schedules: what KFP's cron (robfig/cron v1) accepts, and the 5-field trap.

A user writes the seed's standard cron, `min hour dom month dow` (`5 4 * * *` is 04:05
daily). KFP parses crons with seconds first and the day of week optional, so the same
five fields would mean `sec min hour dom month` (minute 4 of every hour). `kfp_cron`
turns a 5-field cron into KFP's 6-field form by prepending `0 `. 6-field crons are
taken as KFP crons (seconds first) and descriptors (`@daily`, `@every 1h`) as they are.
"""

from __future__ import annotations

import re
from datetime import datetime

from croniter import croniter

SCHEDULE_RULE = (
    "a 5-field cron 'min hour dom month dow' (e.g. '5 4 * * *', 04:05 daily), "
    "a 6-field KFP cron 'sec min hour dom month dow' (e.g. '0 5 4 * * *'), "
    "or a descriptor: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, "
    "@every <duration> (e.g. '@every 1h30m', at least 1s)"
)
DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (name, min, max, names, '?' allowed) in KFP's 6-field order
_FIELDS = (
    ("second", 0, 59, {}, False),
    ("minute", 0, 59, {}, False),
    ("hour", 0, 23, {}, False),
    ("day of month", 1, 31, {}, True),
    ("month", 1, 12, _MONTHS, False),
    ("day of week", 0, 6, _DAYS, True),
)
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "m": 60,
    "h": 3600,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def check_schedule(value: str) -> str:
    """Raise ValueError (saying what is valid) unless KFP's cron parser accepts the schedule."""
    problem = _schedule_problem(value.strip())
    if problem:
        raise ValueError(f"{problem}; expected {SCHEDULE_RULE}")
    return value


def kfp_cron(schedule: str) -> str:
    """The schedule as KFP's cron field wants it: '5 4 * * *' -> '0 5 4 * * *'."""
    check_schedule(schedule)
    text = schedule.strip()
    if text.startswith("@"):
        return " ".join(text.split())
    fields = text.split()
    return " ".join(["0", *fields] if len(fields) == 5 else fields)


def _schedule_problem(text: str) -> str | None:
    if not text:
        return "empty schedule"
    if text.startswith("@"):
        return _descriptor_problem(text)
    fields = text.split()
    if len(fields) not in (5, 6):
        return f"{len(fields)} field{'' if len(fields) == 1 else 's'} instead of 5 or 6"
    specs = _FIELDS[1:] if len(fields) == 5 else _FIELDS
    for field, spec in zip(fields, specs, strict=True):
        problem = _field_problem(field, *spec)
        if problem:
            return problem
    five = " ".join(fields)
    if not croniter.is_valid(five, second_at_beginning=len(fields) == 6):
        return "not a valid cron expression"
    return None


def _field_problem(
    field: str, name: str, lo: int, hi: int, names: dict[str, int], qmark: bool
) -> str | None:
    for part in field.split(","):
        range_part, slash, step = part.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            return f"{name} '{field}': the step after '/' must be a positive number"
        if range_part in ("*", "?"):
            if range_part == "?" and not qmark:
                return f"{name} '{field}': '?' is only allowed in day of month and day of week"
            continue
        bounds = range_part.split("-")
        if len(bounds) > 2:
            return f"{name} '{field}': too many '-'"
        values = []
        for b in bounds:
            v = names.get(b.lower()) if names else None
            if v is None and b.isdigit():
                v = int(b)
            if v is None and ("#" in b or re.search("[LW]", b.upper())):
                return f"{name} '{field}': 'L', 'W' and '#' are not supported by KFP's cron (robfig/cron v1)"
            if v is None:
                named = f" or a name ({', '.join(n.upper() for n in names)})" if names else ""
                return f"{name} '{field}': '{b}' is not a number{named}"
            if not lo <= v <= hi:
                return f"{name} '{field}': {v} is outside {lo}-{hi}"
            values.append(v)
        if len(values) == 2 and values[0] > values[1]:
            return f"{name} '{field}': range start after its end"
    return None


def _descriptor_problem(text: str) -> str | None:
    if text in DESCRIPTORS:
        return None
    if text.startswith("@every "):
        duration = text[len("@every ") :].strip()
        seconds = go_duration_seconds(duration)
        if seconds is None:
            return f"'{duration}' is not a duration such as 1h, 30m, 1h30m or 90s"
        if seconds < 1:
            return f"'@every {duration}' is shorter than 1s"
        return None
    return f"unknown descriptor '{text}'"


def go_duration_seconds(text: str) -> float | None:
    """Seconds in a Go duration string ('1h30m' -> 5400.0), None if it is not one."""
    pos, total = 0, 0.0
    if not text:
        return None
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if not m:
            return None
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    return total


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 timestamp with its offset ('2026-01-01T00:00:00Z'), as KFP wants it."""
    if not _RFC3339.fullmatch(value):
        raise ValueError(
            "must be an RFC 3339 timestamp with a zone, e.g. '2026-01-01T02:00:00Z' or '2026-01-01T03:00:00+01:00'"
        )
    main, _, rest = value.partition(".")
    if rest:  # fromisoformat before 3.11 wants at most 6 fraction digits and no 'Z'
        digits = re.match(r"\d+", rest).group(0)
        main = f"{main}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        return datetime.fromisoformat(main.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "must be a real date and time (RFC 3339), e.g. '2026-01-01T02:00:00Z'"
        ) from None

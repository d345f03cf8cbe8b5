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

from dh_kfp_pulumi import kfp_cron as grammar
from dh_kfp_pulumi.kfp_cron import go_duration_seconds

SCHEDULE_RULE = (
    "a 5-field cron 'min hour dom month dow' (e.g. '5 4 * * *', 04:05 daily), "
    "a 6-field KFP cron 'sec min hour dom month dow' (e.g. '0 5 4 * * *'), "
    "or a descriptor: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, "
    "@every <duration> (e.g. '@every 1h30m', at least 1s)"
)
DESCRIPTORS = tuple(grammar.DESCRIPTORS)
_QMARK_FIELDS = ("day of month", "day of week")

__all__ = ["DESCRIPTORS", "SCHEDULE_RULE", "check_schedule", "go_duration_seconds", "kfp_cron"]


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
    return " ".join(_six_fields(text.split()))


def _six_fields(fields: list[str]) -> list[str]:
    """A user's 5-field cron is standard cron (minutes first): KFP's form has seconds first."""
    return ["0", *fields] if len(fields) == 5 else fields


def _schedule_problem(text: str) -> str | None:
    if not text:
        return "empty schedule"
    prefix = re.match(r"(CRON_TZ|TZ)=(\S*)", text)
    if prefix:
        return (
            f"time zone prefix '{prefix.group(0)}' is not supported: schedules run in UTC "
            "(KFP's ScheduledWorkflow controller computes their ticks in UTC, as the "
            "embedded server does); drop the prefix and write the times in UTC"
        )
    if not text.startswith("@"):
        fields = text.split()
        if len(fields) not in (5, 6):
            return f"{len(fields)} field{'' if len(fields) == 1 else 's'} instead of 5 or 6"
        text = " ".join(_six_fields(fields))
        for field, spec in zip(text.split(), grammar.FIELDS, strict=True):
            qmark = any(part.partition("/")[0] == "?" for part in field.split(","))
            if qmark and spec.name not in _QMARK_FIELDS:
                return f"{spec.name} '{field}': '?' is only allowed in day of month and day of week"
    try:
        parsed = grammar.parse(text)
    except grammar.CronError as exc:
        return _message(exc)
    if parsed.every is not None and parsed.every < 1:
        return f"'@every {text[len('@every ') :].strip()}' is shorter than 1s"
    if grammar.never_fires(parsed):
        dom, month = text.split()[3:5]
        return (
            f"day of month '{dom}' never falls in month '{month}', so the schedule never "
            "fires; pick days that month has (February has 29 at most)"
        )
    return None


def _message(exc: grammar.CronError) -> str:
    """robfig's error, reworded for someone writing a schedule: the field, its text, the rule."""
    if exc.kind == "descriptor":
        return f"unknown descriptor '{exc.text}'"
    if exc.kind == "duration":
        return f"'{exc.token}' is not a duration such as 1h, 30m, 1h30m or 90s"
    field = exc.field
    if field is None:  # empty, fields: caught before parsing
        return str(exc)
    where = f"{field.name} '{exc.text}'"
    if exc.kind in ("slashes", "step") or (exc.kind == "number" and exc.role == "step"):
        return f"{where}: the step after '/' must be a positive number"
    if exc.kind == "hyphens" and exc.token not in ("*", "?"):
        return f"{where}: too many '-'"
    if exc.kind in ("number", "hyphens"):  # a `*-5` is a range from something not a number
        if "#" in exc.token or re.search("[LW]", exc.token.upper()):
            return f"{where}: 'L', 'W' and '#' are not supported by KFP's cron (robfig/cron v1)"
        names = field.names
        named = f" or a name ({', '.join(n.upper() for n in names)})" if names else ""
        return f"{where}: '{exc.token}' is not a number{named}"
    outside = [v for v in (exc.start, exc.end) if not field.low <= v <= field.high]
    if outside:
        return f"{where}: {outside[0]} is outside {field.low}-{field.high}"
    return f"{where}: range start after its end"


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 timestamp with its offset ('2026-01-01T00:00:00Z'), as KFP wants it."""
    if not _RFC3339.fullmatch(value):
        raise ValueError(
            "must be an RFC 3339 timestamp with a zone, e.g. '2026-01-01T02:00:00Z' or '2026-01-01T03:00:00+01:00'"
        )
    main, _, rest = value.partition(".")
    if rest:  # fromisoformat before 3.11 wants at most 6 fraction digits and no 'Z'
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        main = f"{main}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        return datetime.fromisoformat(main.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "must be a real date and time (RFC 3339), e.g. '2026-01-01T02:00:00Z'"
        ) from None

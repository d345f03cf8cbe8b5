"""KFP's cron dialect, robfig/cron v1 `Parse`, in one place for the specs and the server.

KFP parses with `Second | Minute | Hour | Dom | Month | DowOptional | Descriptor`: six fields
with seconds first, or five meaning `sec min hour dom month` (not standard cron), `?` as `*`,
names for months and weekdays, no `L W #`, and the descriptors `@yearly ... @hourly` and
`@every <Go duration>`. `parse` checks an expression with that grammar and rewrites it as a
plain numeric six-field cron that croniter iterates. Its errors carry robfig's own words
(what the embedded server answers, as KFP does) and the facts behind them (field, value,
bounds), from which `specs.schedule` words its messages for users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple


class Field(NamedTuple):
    name: str
    low: int
    high: int
    names: dict[str, int]


MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# KFP's six fields, seconds first.
FIELDS = (
    Field("second", 0, 59, {}),
    Field("minute", 0, 59, {}),
    Field("hour", 0, 23, {}),
    Field("day of month", 1, 31, {}),
    Field("month", 1, 12, MONTHS),
    Field("day of week", 0, 6, DAYS),
)
DESCRIPTORS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_GO_PART = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)"  # Go takes ASCII digits only
_GO_DURATION = re.compile(rf"[-+]?(?:{_GO_PART})+|0")


class CronError(ValueError):
    """robfig's words as the message; `kind` and the attributes say what was wrong.

    kinds: empty, fields (`count`), descriptor, duration (`token`), slashes, hyphens (`token`:
    the range's start), number (`token`, `role` "value" or "step"), below, above, reversed
    (`start`, `end`), step. `field` is a Field
    and `text` its whole text, for the kinds that concern one field.
    """

    def __init__(self, message: str, kind: str, **facts: object) -> None:
        super().__init__(message)
        self.kind = kind
        self.field: Field | None = None
        self.text = ""
        self.token = ""
        self.role = "value"
        self.count = 0
        self.start = self.end = 0
        for key, value in facts.items():
            setattr(self, key, value)


@dataclass(frozen=True)
class Cron:
    """A parsed expression: a numeric six-field cron (`day_or`: robfig matches day of month OR
    day of week only when neither has a `*`), or `every` seconds (as written, not rounded)."""

    cron: str | None = None
    day_or: bool = True
    every: float | None = None


def parse(expr: str) -> Cron:
    """robfig/cron v1 `Parse` with KFP's options; raises CronError."""
    spec = expr.strip()
    if not spec:
        raise CronError("Empty spec string", "empty")
    if spec.startswith("@"):
        if spec.startswith("@every "):
            text = spec[len("@every ") :].strip()
            seconds = go_duration_seconds(text)
            if seconds is None:
                raise CronError(
                    f"Failed to parse duration @every {text}: time: invalid duration {text!r}",
                    "duration",
                    token=text,
                )
            return Cron(every=seconds)
        if spec in DESCRIPTORS:
            return Cron(cron=DESCRIPTORS[spec])
        raise CronError(f"Unrecognized descriptor: {spec}", "descriptor", text=spec)
    fields = spec.split()
    if not 5 <= len(fields) <= 6:
        raise CronError(
            f"Expected 5 to 6 fields, found {len(fields)}: {spec}", "fields", count=len(fields)
        )
    if len(fields) == 5:
        fields.append("*")
    normalized, stars = [], []
    for text, field in zip(fields, FIELDS, strict=True):
        out, star = _field(text, field)
        normalized.append(out)
        stars.append(star)
    return Cron(cron=" ".join(normalized), day_or=not (stars[3] or stars[5]))


def _field(text: str, field: Field) -> tuple[str, bool]:
    """One field as numeric `start-end/step` parts, and whether it has a `*` (or `?`)."""
    parts, star = [], False
    low, high = field.low, field.high

    def fail(message: str, kind: str, **facts: object) -> CronError:
        return CronError(message, kind, field=field, text=text, **facts)

    for expr in text.split(","):
        rng, _, step_text = expr.partition("/")
        if "/" in step_text:
            raise fail(f"Too many slashes: {expr}", "slashes")
        bounds = rng.split("-")
        if len(bounds) > 2 or (len(bounds) > 1 and bounds[0] in ("*", "?")):
            raise fail(f"Too many hyphens: {expr}", "hyphens", token=bounds[0])
        if bounds[0] in ("*", "?"):
            start, end, star = low, high, True
        else:
            start = _number(bounds[0], field.names, fail)
            end = _number(bounds[1], field.names, fail) if len(bounds) == 2 else start
        step = 1
        if "/" in expr:
            step = _number(step_text, {}, fail, role="step")
            if len(bounds) == 1 and bounds[0] not in ("*", "?"):
                end = high  # robfig: "N/step" means "N-max/step"
        facts = {"start": start, "end": end}
        if start < low:
            raise fail(
                f"Beginning of range ({start}) below minimum ({low}): {expr}", "below", **facts
            )
        if end > high:
            raise fail(f"End of range ({end}) above maximum ({high}): {expr}", "above", **facts)
        if start > end:
            raise fail(
                f"Beginning of range ({start}) beyond end of range ({end}): {expr}",
                "reversed",
                **facts,
            )
        if step == 0:
            raise fail(f"Step of range should be a positive number: {expr}", "step")
        parts.append(f"{start}-{end}/{step}" if step != 1 or start != end else str(start))
    return ",".join(parts), star


def _number(text: str, names: dict[str, int], fail, role: str = "value") -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not re.fullmatch(r"[0-9]+", text):
        raise fail(
            f"Failed to parse int from {text}: strconv.Atoi: parsing {text!r}: invalid syntax",
            "number",
            token=text,
            role=role,
        )
    return int(text)


def go_duration_seconds(text: str) -> float | None:
    """Seconds in a Go duration string ('1h30m' -> 5400.0, '-1h' -> -3600.0), None if it is
    not one (Go's `time.ParseDuration`: no spaces, a unit after every number but a lone 0)."""
    if not _GO_DURATION.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    return sign * sum(float(n) * _GO_UNITS[u] for n, u in re.findall(_GO_PART, text))


_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February: leap years count


def _values(field: str) -> set[int]:
    """The numbers a normalized field (`parse`'s `start-end/step` parts) matches."""
    out: set[int] = set()
    for part in field.split(","):
        rng, _, step = part.partition("/")
        start, _, end = rng.partition("-")
        out.update(range(int(start), int(end or start) + 1, int(step or 1)))
    return out


def never_fires(parsed: Cron) -> bool:
    """True when no date has the day of month in the month (`31 2`): the schedule can
    never fire.

    Seconds, minutes and hours always match some time of a matching day, and robfig
    matches a day by day of month OR day of week when both are restricted (a weekday
    comes every week): only a restricted day of month with a `*` day of week can miss
    every month. Robfig looks 5 years ahead, which always holds a 29 February.
    """
    if parsed.cron is None or parsed.day_or:
        return False
    _, _, _, dom, month, dow = parsed.cron.split()
    if dom == f"{FIELDS[3].low}-{FIELDS[3].high}/1" or dow != f"{FIELDS[5].low}-{FIELDS[5].high}/1":
        return False  # any day of month, or days picked by weekday
    days, months = _values(dom), _values(month)
    return not any(day <= _DAYS_IN_MONTH[m - 1] for m in months for day in days)

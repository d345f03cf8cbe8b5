"""KFP's cron dialect: robfig/cron v1 `Parse` for validation, croniter for the ticks.

KFP parses with `Second | Minute | Hour | Dom | Month | DowOptional | Descriptor`: six fields
with seconds first, or five meaning `sec min hour dom month` (not standard cron), `?` as `*`,
names for months and weekdays, no `L W #`, and the descriptors `@yearly ... @hourly` and
`@every <Go duration>`. The expression is checked here with robfig's grammar and error words,
then rewritten as a plain numeric six-field expression that croniter iterates (in UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from croniter import croniter

from dh_kfp_pulumi.server.wire import invalid

_FORMAT_HELP = "Schedule cron is not a supported format(https://godoc.org/github.com/robfig/cron)"

_MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (name, min, max, names) per field, seconds first.
_FIELDS = [
    ("second", 0, 59, {}), ("minute", 0, 59, {}), ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}), ("month", 1, 12, _MONTHS), ("day-of-week", 0, 6, _DAYS),
]
_DESCRIPTORS = {
    "@yearly": "0 0 0 1 1 *", "@annually": "0 0 0 1 1 *", "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0", "@daily": "0 0 0 * * *", "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    """A parsed trigger: either a numeric six-field cron or a fixed interval in seconds."""

    cron: str | None = None
    day_or: bool = True
    every: int | None = None

    def next_after(self, moment: float) -> float:
        """The first tick strictly after `moment` (epoch seconds, UTC)."""
        if self.every is not None:
            return float(int(moment) + self.every)
        start = datetime.fromtimestamp(int(moment), timezone.utc)
        it = croniter(self.cron, start, second_at_beginning=True, day_or=self.day_or)
        return float(it.get_next(float))

    def latest(self, after: float, until: float) -> float | None:
        """The last tick in (after, until], or None: what `no_catchup` fires after a gap."""
        if self.every is not None:
            count = int((until - int(after)) // self.every)
            return float(int(after) + count * self.every) if count >= 1 else None
        moment = datetime.fromtimestamp(int(until) + 1, timezone.utc)
        it = croniter(self.cron, moment, second_at_beginning=True, day_or=self.day_or)
        tick = float(it.get_prev(float))
        return tick if tick > after else None


def parse(expr: str) -> Schedule:
    """Validate like robfig/cron v1 `Parse`; a bad expression raises an InvalidArgument ApiError."""
    try:
        return _parse(expr)
    except CronError as exc:
        raise invalid(f"{_FORMAT_HELP}. Error: {exc}") from None


def _parse(expr: str) -> Schedule:
    spec = expr.strip()
    if not spec:
        raise CronError("Empty spec string")
    if spec.startswith("@"):
        if spec.startswith("@every "):
            return Schedule(every=_every(spec[len("@every "):].strip()))
        if spec in _DESCRIPTORS:
            return Schedule(cron=_DESCRIPTORS[spec])
        raise CronError(f"Unrecognized descriptor: {spec}")
    fields = spec.split()
    if not 5 <= len(fields) <= 6:
        raise CronError(f"Expected 5 to 6 fields, found {len(fields)}: {spec}")
    if len(fields) == 5:
        fields.append("*")
    normalized, stars = [], []
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        out, star = _field(text, name, low, high, names)
        normalized.append(out)
        stars.append(star)
    # robfig: when day-of-month or day-of-week carries a `*`, both must match; else either.
    return Schedule(cron=" ".join(normalized), day_or=not (stars[3] or stars[5]))


def _field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> tuple[str, bool]:
    parts, star = [], False
    for expr in text.split(","):
        rng, _, step_text = expr.partition("/")
        if "/" in step_text:
            raise CronError(f"Too many slashes: {expr}")
        bounds = rng.split("-")
        if bounds[0] in ("*", "?"):
            if len(bounds) > 1:
                raise CronError(f"Too many hyphens: {expr}")
            start, end, star = low, high, True
        else:
            if len(bounds) > 2:
                raise CronError(f"Too many hyphens: {expr}")
            start = _number(bounds[0], names)
            end = _number(bounds[1], names) if len(bounds) == 2 else start
        step = 1
        if "/" in expr:
            step = _number(step_text, {})
            if len(bounds) == 1 and bounds[0] not in ("*", "?"):
                end = high  # robfig: "N/step" means "N-max/step"
        if start < low:
            raise CronError(f"Beginning of range ({start}) below minimum ({low}): {expr}")
        if end > high:
            raise CronError(f"End of range ({end}) above maximum ({high}): {expr}")
        if start > end:
            raise CronError(f"Beginning of range ({start}) beyond end of range ({end}): {expr}")
        if step == 0:
            raise CronError(f"Step of range should be a positive number: {expr}")
        parts.append(f"{start}-{end}/{step}" if step != 1 or start != end else str(start))
    return ",".join(parts), star


def _number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not re.fullmatch(r"\d+", text):
        raise CronError(f"Failed to parse int from {text}: strconv.Atoi: parsing {text!r}: invalid syntax")
    return int(text)


def _every(text: str) -> int:
    """A Go duration (`1h30m`, `90s`, `1.5h`) -> whole seconds, at least 1, as robfig rounds it."""
    if not re.fullmatch(r"[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+", text) and text != "0":
        raise CronError(f"Failed to parse duration @every {text}: time: invalid duration {text!r}")
    sign = -1 if text.startswith("-") else 1
    total = sum(float(num) * _GO_UNITS[unit]
                for num, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text))
    return max(1, int(sign * total))

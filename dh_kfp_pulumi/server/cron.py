"""KFP's cron dialect on the server: robfig's error words as KFP answers them, and the ticks.

The grammar (robfig/cron v1 `Parse` with KFP's options) is `dh_kfp_pulumi.kfp_cron`; here a
parsed expression becomes a `Schedule` that croniter iterates (in UTC), and a bad one an
InvalidArgument error worded as KFP's API server words it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from croniter import croniter

from dh_kfp_pulumi import kfp_cron
from dh_kfp_pulumi.server.wire import invalid

_FORMAT_HELP = "Schedule cron is not a supported format(https://godoc.org/github.com/robfig/cron)"


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
        parsed = kfp_cron.parse(expr)
    except kfp_cron.CronError as exc:
        raise invalid(f"{_FORMAT_HELP}. Error: {exc}") from None
    if parsed.every is not None:
        return Schedule(every=max(1, int(parsed.every)))  # robfig: at least a second, whole
    return Schedule(cron=parsed.cron, day_or=parsed.day_or)

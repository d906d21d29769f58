"""Schedules: five-field cron expressions in UTC, or @hourly/@daily/@weekly/@monthly/off.

Kept apart from the queue so that reading settings does not load huey (and through it the
PostgreSQL and Redis client libraries) into processes that never run jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

# Cron shorthands accepted besides five-field expressions.
SHORTHANDS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
}
DISABLED = ("", "off", "never", "none")


class ScheduleError(ValueError):
    """A schedule that is not a cron expression; the message says what is wrong."""


def parse_schedule(text: str) -> Callable[[datetime], bool] | None:
    """A five-field cron expression (or @daily ...) as a predicate; None when disabled."""
    expression = text.strip().lower()
    if expression in DISABLED:
        return None
    expression = SHORTHANDS.get(expression, expression)
    fields = expression.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"{text!r} is not a cron expression: expected 5 fields"
            " (minute hour day month weekday) or @hourly/@daily/@weekly/@monthly/off"
        )
    try:
        from huey import crontab

        return crontab(*fields, strict=True)  # type: ignore[no-any-return]
    except ValueError as exc:
        raise ScheduleError(f"{text!r} is not a cron expression: {exc}") from None

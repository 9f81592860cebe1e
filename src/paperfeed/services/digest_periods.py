"""The periods a digest covers, and which are due on a day.

A run for day D sends the daily digest of D (weekdays only) and the weekly digest of the
ISO week before D's week, so any run in a week sends the previous week once. Each period
has a key ('daily:2026-11-25', 'weekly:2026-W47'): one outbox row per subscriber and key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Period:
    key: str  # 'daily:2026-11-25' or 'weekly:2026-W47': one outbox row per subscriber
    frequency: str
    start: date
    end: date

    @property
    def label(self) -> str:
        if self.frequency == "daily":
            return self.start.strftime("%a %d %b %Y")
        year, week, _ = self.start.isocalendar()
        return f"week {week} of {year} ({self.start:%d %b} - {self.end:%d %b %Y})"

    @property
    def short_label(self) -> str:
        """For subjects, short enough that the header is never folded."""
        if self.frequency == "daily" or self.start.month == self.end.month:
            return (
                f"{self.start:%d}-{self.end:%d %b %Y}" if self.frequency == "weekly" else self.label
            )
        return f"{self.start:%d %b}-{self.end:%d %b %Y}"


def daily_period(day: date) -> Period:
    return Period(f"daily:{day.isoformat()}", "daily", day, day)


def weekly_period(day: date) -> Period:
    """The ISO week that contains `day`."""
    monday = day - timedelta(days=day.weekday())
    year, week, _ = monday.isocalendar()
    return Period(f"weekly:{year}-W{week:02d}", "weekly", monday, monday + timedelta(days=6))


def period_of(key: str) -> Period:
    """The Period an outbox row's key names."""
    frequency, _, when = key.partition(":")
    if frequency == "weekly":
        year, week = when.split("-W")
        return weekly_period(date.fromisocalendar(int(year), int(week), 1))
    return daily_period(date.fromisoformat(when))


def due_periods(day: date) -> list[Period]:
    """What a run for `day` sends: that day's daily digest on weekdays, and the weekly
    digest of the week before."""
    due = [daily_period(day)] if day.weekday() < 5 else []
    return [*due, weekly_period(day - timedelta(days=7))]

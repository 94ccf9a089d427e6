"""Where the campaign stands on a given day: the next deadline, the events (the inspection) with
the day the office set for them, and the phase that decides what the pushes say.

Pure: the office's event dates come from the store (store.assignments.event_dates) and are passed in.
Deadlines are counted down to and can be missed; events cannot: nothing is "overdue" after one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.catalog import Campaign, Deadline, Event

RUNNING = "running"  # a deadline lies ahead (or is today)
READINESS = "readiness"  # every deadline has passed: prepare for the inspection
ENDED = "ended"  # after the last event: the campaign is over, pushes go quiet

SUBMIT_KEY = "submit"  # the deadline by which the 资料目录 is sent (报送)


@dataclass(frozen=True)
class Timeline:
    campaign: Campaign
    event_dates: Mapping[str, dt.date] = field(default_factory=dict)  # set by the office

    def event_date(self, event: Event) -> dt.date | None:
        """The day the event happens, when known (the office's setting wins over the file)."""
        return self.event_dates.get(event.key, event.date)

    def event_span(self, event: Event) -> tuple[dt.date, dt.date]:
        """The days the event may fall on: its day once known, else its whole window."""
        day = self.event_date(event)
        return (day, day) if day else (event.window_start, event.window_end)

    def next_deadline(self, today: dt.date) -> Deadline | None:
        return self.campaign.next_deadline(today)

    @property
    def last_deadline(self) -> Deadline | None:
        return self.campaign.deadlines[-1] if self.campaign.deadlines else None

    @property
    def submit_deadline(self) -> Deadline | None:
        return self.campaign.deadline(SUBMIT_KEY)

    def next_event(self, today: dt.date) -> Event | None:
        """The first event that has not ended by `today`."""
        ahead = [e for e in self.campaign.events if self.event_span(e)[1] >= today]
        return min(ahead, key=lambda e: self.event_span(e)[0], default=None)

    @property
    def end(self) -> dt.date:
        """The campaign's last day: its last deadline or the end of its last event."""
        days = [d.date for d in self.campaign.deadlines]
        days += [self.event_span(e)[1] for e in self.campaign.events]
        return max(days, default=self.campaign.issued_on)

    def phase(self, today: dt.date) -> str:
        if today > self.end:
            return ENDED
        last = self.last_deadline
        if last is not None and today <= last.date:
            return RUNNING
        return READINESS

    def has_started(self, today: dt.date) -> bool:
        """The notice has been issued: nothing is pushed before that day."""
        return today >= self.campaign.issued_on

    def is_late(self, today: dt.date) -> bool:
        """Open assignments are overdue: the first deadline (资料目录报送) has passed."""
        first = self.campaign.deadlines[0] if self.campaign.deadlines else None
        return first is not None and today > first.date

    def is_submit_open(self, today: dt.date) -> bool:
        """The 资料目录 is still due (on or before the submit deadline)."""
        d = self.submit_deadline
        return d is not None and today <= d.date

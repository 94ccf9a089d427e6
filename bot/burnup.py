"""Burn-up: completion over time, replayed from the audit log, and its chart's geometry.

Pure: the caller reads the log and passes each status change as (local day, indicator,
department, complete?). Every assignment starts open (assignments are created 未开始 and every
change after that is audited), so replaying the log in order gives the completed weight at the
end of each day. The chart is plain SVG numbers for a template: no script, no external asset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

Key = tuple[int, str]


@dataclass(frozen=True)
class Series:
    """Completed weight at the end of each day from `start`, and the weight it counts against."""

    start: dt.date
    done: tuple[int, ...]  # one value per day, start .. the last day replayed
    total: int

    def percent(self, i: int) -> float:
        return 100.0 * self.done[i] / self.total if self.total else 0.0


def replay(
    changes: Iterable[tuple[dt.date, int, str, bool]],
    weights: dict[Key, int],
    start: dt.date,
    today: dt.date,
    current: dict[Key, bool] | None = None,
    departments: Iterable[str] | None = None,
) -> tuple[Series, dict[str, Series]]:
    """The district's series and each department's, day by day from `start` to `today`;
    with `departments`, only those departments' series (the overview needs none of them).

    Changes before `start` count from the first day; pairs without a weight (bonus and deduction
    items, or assignments no longer in the data) are skipped. `current` (the complete flags now)
    ends both series where the store stands, should the log have started later than the data.
    """
    days = max(0, (today - start).days) + 1
    complete: dict[Key, bool] = {}
    district = 0
    per: dict[str, int] = {}
    totals: dict[str, int] = {}
    for (_, d), w in weights.items():
        totals[d] = totals.get(d, 0) + w
    d_done = [0] * days
    kept = totals if departments is None else [d for d in departments if d in totals]
    p_done: dict[str, list[int]] = {d: [0] * days for d in kept}
    day = 0

    def close_until(target: int) -> None:
        nonlocal day
        while day < min(target, days):
            d_done[day] = district
            for dept, v in per.items():
                if dept in p_done:
                    p_done[dept][day] = v
            day += 1

    for when, ind, dept, is_complete in changes:
        w = weights.get((ind, dept))
        if w is None:
            continue
        close_until((when - start).days)
        if day >= days:
            break
        was = complete.get((ind, dept), False)
        if was != is_complete:
            complete[(ind, dept)] = is_complete
            delta = w if is_complete else -w
            district += delta
            if dept in p_done:
                per[dept] = per.get(dept, 0) + delta
    close_until(days - 1)  # the days before today as the log tells them
    if current is not None:
        district = sum(w for k, w in weights.items() if current.get(k))
        per = {}
        for (ind, dept), w in weights.items():
            if dept in p_done and current.get((ind, dept)):
                per[dept] = per.get(dept, 0) + w
    close_until(days)
    whole = Series(start, tuple(d_done), sum(totals.values()))
    return whole, {d: Series(start, tuple(v), totals[d]) for d, v in p_done.items()}


# --- the chart -------------------------------------------------------------------------------

WIDTH, HEIGHT = 360, 200
LEFT, RIGHT, TOP, BOTTOM = 34, 10, 26, 22  # room for the % axis, the deadline names and dates


def chart(s: Series, deadlines: list[tuple[dt.date, str]], end: dt.date | None = None) -> dict:
    """Geometry of one burn-up chart: the completion line up to today, the pace line from the
    start to 100 % on the last deadline, a dashed line per deadline with its name."""
    last = max([end or s.start] + [d for d, _ in deadlines] + [s.start + dt.timedelta(days=1)])
    span = max(1, (last - s.start).days)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: dt.date | int) -> float:
        i = day if isinstance(day, int) else (day - s.start).days
        return round(LEFT + plot_w * min(max(i, 0), span) / span, 1)

    def y(pct: float) -> float:
        return round(TOP + plot_h * (1 - pct / 100), 1)

    points = [(x(i), y(s.percent(i))) for i in range(min(len(s.done), span + 1))]
    # a step line: completion holds until the day it changes
    steps: list[tuple[float, float]] = []
    for px, py in points:
        if steps and steps[-1][1] != py:
            steps.append((px, steps[-1][1]))
        steps.append((px, py))
    pace_end = deadlines[-1][0] if deadlines else last
    marks = []
    for i, (day, name) in enumerate(deadlines):
        marks.append(
            {
                "x": x(day),
                "name": name,
                "date": f"{day.month}月{day.day}日",
                "label_y": TOP - 14 + (i % 2) * 10,  # two close deadlines do not overlap
                "anchor": "end" if x(day) > LEFT + plot_w * 0.6 else "start",
            }
        )
    now_pct = s.percent(len(s.done) - 1) if s.done else 0.0
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": HEIGHT - BOTTOM,
        "grid": [{"y": y(p), "label": f"{p}%"} for p in (0, 50, 100)],
        "line": " ".join(f"{a},{b}" for a, b in steps),
        "now": {"x": steps[-1][0], "y": steps[-1][1]} if steps else None,
        "pace": f"{x(0)},{y(0)} {x(pace_end)},{y(100)}",
        "deadlines": marks,
        "start_label": f"{s.start.month}月{s.start.day}日",
        "end_label": f"{last.month}月{last.day}日",
        "percent": round(now_pct),
        "summary": f"截至今天完成 {round(now_pct)}%",
    }

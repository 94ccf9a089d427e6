"""Who is behind (bot.lag) and the burn-up replay (bot.burnup): the arithmetic alone."""

from __future__ import annotations

import datetime as dt

from bot import burnup
from bot.lag import Lag, rank_behind


def lag(name: str, order: int, **kw) -> Lag:
    base = dict(
        open_weight=0,
        open_count=0,
        total_count=10,
        returned=0,
        dead_links=0,
        idle_days=0,
        bound=1,
        liaisons=1,
        reachable=True,
        submitted=True,
        submit_next=False,
    )
    return Lag(department=name, order=order, **{**base, **kw})


def test_points_add_up_as_the_rule_says():
    assert lag("a", 0).points == 0
    assert lag("a", 0, open_weight=7, open_count=5).points == 7
    assert lag("a", 0, returned=2).points == 6
    assert lag("a", 0, dead_links=3).points == 6
    assert lag("a", 0, idle_days=25).points == 10  # idle days count up to ten
    assert lag("a", 0, bound=0, liaisons=0).points == 10
    assert lag("a", 0, liaisons=0).points == 5
    assert lag("a", 0, reachable=False).points == 3
    assert lag("a", 0, submitted=False).points == 0  # the submission is not the next deadline
    assert lag("a", 0, submitted=False, submit_next=True).points == 5


def test_ties_share_a_rank_and_are_ordered_by_open_weight_idle_days_then_list_order():
    rows = rank_behind(
        [
            lag("first-listed", 0, open_weight=4, idle_days=2),
            lag("more-open", 1, open_weight=6),  # 6 points, as the next two
            lag("idle", 2, open_weight=4, idle_days=2),
            lag("top", 3, open_weight=20),
            lag("done", 4),
        ]
    )
    assert [(r.rank, r.lag.department) for r in rows] == [
        (1, "top"),
        (2, "more-open"),
        (2, "first-listed"),
        (2, "idle"),
        (5, "done"),
    ]


D0 = dt.date(2020, 8, 13)


def test_burnup_replays_changes_day_by_day_and_undoes_a_reopened_item():
    weights = {(1, "a"): 2, (2, "a"): 1, (1, "b"): 1}
    changes = [
        (D0, 1, "a", True),
        (D0 + dt.timedelta(days=2), 1, "b", True),
        (D0 + dt.timedelta(days=2), 9, "a", True),  # no weight (a bonus item): skipped
        (D0 + dt.timedelta(days=3), 1, "a", False),  # returned: no longer complete
        (D0 + dt.timedelta(days=3), 2, "a", True),
    ]
    whole, per = burnup.replay(changes, weights, D0, D0 + dt.timedelta(days=4))
    assert whole.done == (2, 2, 3, 2, 2) and whole.total == 4
    assert per["a"].done == (2, 2, 2, 1, 1) and per["a"].total == 3
    assert per["b"].done == (0, 0, 1, 1, 1)


def test_burnup_ends_where_the_store_stands():
    weights = {(1, "a"): 2, (2, "a"): 1}
    whole, _ = burnup.replay([], weights, D0, D0 + dt.timedelta(days=1), {(2, "a"): True})
    assert whole.done == (0, 1)


def test_chart_steps_and_deadlines():
    s = burnup.Series(D0, (0, 0, 2, 4), 4)
    deadlines = [
        (D0 + dt.timedelta(days=6), "资料目录报送"),
        (D0 + dt.timedelta(days=18), "全面完成"),
    ]
    c = burnup.chart(s, deadlines, D0 + dt.timedelta(days=3))
    pts = [tuple(map(float, p.split(","))) for p in c["line"].split()]
    ys = [y for _, y in pts]
    assert ys == sorted(ys, reverse=True)  # completion never goes down here: y only rises
    assert pts[0] == (c["left"], c["bottom"]) and pts[-1][1] == c["top"]
    assert [d["name"] for d in c["deadlines"]] == ["资料目录报送", "全面完成"]
    assert c["deadlines"][-1]["x"] == c["right"]  # the last deadline ends the time axis
    assert c["percent"] == 100 and c["pace"].split()[-1] == f"{c['right']:.1f},{c['top']:.1f}"


def test_burnup_keeps_only_the_departments_asked_for():
    weights = {(1, "a"): 2, (2, "a"): 1, (1, "b"): 1}
    changes = [(D0, 1, "a", True), (D0 + dt.timedelta(days=1), 1, "b", True)]
    end = D0 + dt.timedelta(days=2)
    now = {(1, "a"): True, (1, "b"): True}
    whole, per = burnup.replay(changes, weights, D0, end, now)
    only_b = burnup.replay(changes, weights, D0, end, now, departments=["b"])
    none = burnup.replay(changes, weights, D0, end, now, departments=[])
    assert only_b[0] == whole == none[0]  # the district's series does not depend on it
    assert set(only_b[1]) == {"b"} and only_b[1]["b"] == per["b"]
    assert none[1] == {}

"""Who is behind: the office's first question, answered as one number per department.

Pure values and arithmetic (no store): bot/web/views.py gathers the inputs. The rule is said in
words by LAG_RULE wherever the order is shown, so the office can check any place in it.
"""

from __future__ import annotations

from dataclasses import dataclass

RETURNED_POINTS = 3  # a returned item is open and someone already said what is wrong with it
DEAD_LINK_POINTS = 2  # a link the inspectors cannot open counts against the department
IDLE_CAP_DAYS = 10  # a day without the department doing anything adds a point, up to this
NOBODY_BOUND_POINTS = 10  # nobody to remind at all
NO_LIAISON_POINTS = 5  # members but no liaison to @-mention near a deadline
UNREACHABLE_POINTS = 3  # no chat the bot can push to: reminders do not arrive
NOT_SUBMITTED_POINTS = 5  # while the next deadline is the 资料目录 submission, before 报送

LAG_RULE = (
    f"落后分 = 未完成事项的权重（牵头 2、配合 1，★ 加倍）+ 已退回 × {RETURNED_POINTS}"
    f" + 失效链接 × {DEAD_LINK_POINTS} + 连续无操作天数（最多 {IDLE_CAP_DAYS}）"
    f" + 无人绑定 {NOBODY_BOUND_POINTS}（有人绑定但无联络员 {NO_LIAISON_POINTS}）"
    f" + 部门群无法推送 {UNREACHABLE_POINTS}"
    f" + 下一截止日为资料目录报送而尚未报送 {NOT_SUBMITTED_POINTS}。"
    "分数越高越落后；同分并列同一名次，并列时未完成权重大的在前，再按无操作天数长的在前，"
    "再按部门名单顺序。"
)


@dataclass(frozen=True)
class Lag:
    """One department's position against the next deadline."""

    department: str
    open_weight: int  # weight of its regular assignments not yet complete
    open_count: int
    total_count: int
    returned: int
    dead_links: int
    idle_days: int  # whole days since the department last did anything (capped in points only)
    bound: int  # people bound to it
    liaisons: int
    reachable: bool
    submitted: bool
    submit_next: bool  # the next deadline is the 资料目录 submission
    order: int = 0  # its place in org.yaml: the last tie-break

    @property
    def points(self) -> int:
        p = self.open_weight + self.returned * RETURNED_POINTS + self.dead_links * DEAD_LINK_POINTS
        p += min(self.idle_days, IDLE_CAP_DAYS)
        if not self.bound:
            p += NOBODY_BOUND_POINTS
        elif not self.liaisons:
            p += NO_LIAISON_POINTS
        if not self.reachable:
            p += UNREACHABLE_POINTS
        if self.submit_next and not self.submitted:
            p += NOT_SUBMITTED_POINTS
        return p

    @property
    def reasons(self) -> list[str]:
        """The parts that count, in words, biggest first, for the row's second line."""
        out = []
        if self.open_count:
            out.append(f"未完成 {self.open_count} 项")
        if self.returned:
            out.append(f"退回 {self.returned} 项")
        if self.dead_links:
            out.append(f"失效链接 {self.dead_links} 个")
        if self.idle_days:
            out.append(f"{self.idle_days} 天无操作")
        if not self.bound:
            out.append("无人绑定")
        elif not self.liaisons:
            out.append("无联络员")
        if not self.reachable:
            out.append("群聊无法推送")
        if self.submit_next and not self.submitted:
            out.append("未报送")
        return out


@dataclass(frozen=True)
class LagRow:
    rank: int
    lag: Lag


def rank_behind(lags: list[Lag]) -> list[LagRow]:
    """Most behind first; equal points share a rank (1, 2, 2, 4), ordered within it as LAG_RULE
    says: more open weight, then longer idle, then org.yaml order."""
    ordered = sorted(lags, key=lambda x: (-x.points, -x.open_weight, -x.idle_days, x.order))
    rows: list[LagRow] = []
    for i, lag in enumerate(ordered, start=1):
        same = rows and rows[-1].lag.points == lag.points
        rows.append(LagRow(rows[-1].rank if same else i, lag))
    return rows

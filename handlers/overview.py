"""总览: admin's district summary."""

from bot import texts
from bot.commands import Context, command
from bot.messages import Reply
from bot.progress import RankRow, Status, compute_scores, overall, rank, starred_ids


@command("总览", aliases=("统计",), admin=True, needs_binding=False)
def overview(ctx: Context) -> Reply:
    """总览：全区进度汇总（管理员）"""
    statuses, overrides, reached, _ = ctx.store.assignments.ranking_inputs()
    regular = ctx.catalog.regular_ids  # bonus and deduction items never count
    scores = compute_scores(statuses, starred_ids(ctx.catalog, overrides), reached, regular)
    rows = rank(scores)
    counts = {s: 0 for s in Status}
    for (ind, _), (_, s) in statuses.items():
        if ind in regular:
            counts[s] += 1
    total = sum(counts.values())
    done = sum(n for s, n in counts.items() if s.is_complete)
    lines = [
        f"**全区总览：{len(rows)} 个部门，{total} 项任务，已完成 {done} 项，"
        f"完成率 {overall(scores).percent}%**",
        "，".join(f"{s.label} {n}" for s, n in counts.items()),
        texts.deadline_line(ctx.calendar, ctx.timeline, ctx.now),
        *_ends(rows),
    ]
    returned = counts[Status.RETURNED]
    if returned:
        lines.append(f"待整改（已退回）：{returned} 项。")
    lines.append("详见管理后台；发送「催办」可立即提醒未完成的部门。")
    return Reply("\n".join(x for x in lines if x))


def _ends(rows: list[RankRow]) -> list[str]:
    """The front and the back of the ranking; a tie at the back is counted, not picked from."""
    if not rows:
        return []
    if rows[0].rank == rows[-1].rank:
        return [f"各部门完成率相同，均为 {rows[0].score.percent}%。"]
    out = ["进度靠前：" + "、".join(f"{r.score.department} {r.score.percent}%" for r in rows[:3])]
    last = [r for r in rows if r.rank == rows[-1].rank]
    if len(last) > 3:
        out.append(
            f"进度靠后：{len(last)} 个部门完成率均为 {last[0].score.percent}%，"
            "发送「排行」可看名单。"
        )
    else:
        out.append(
            "进度靠后：" + "、".join(f"{r.score.department} {r.score.percent}%" for r in last)
        )
    out.append(texts.RANKING_RULE)
    return out

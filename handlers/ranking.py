"""排行: the department ranking."""

from bot import texts
from bot.commands import Context, command
from bot.messages import Reply
from bot.progress import bonus_contributors, compute_scores, rank, starred_ids

TOP = 10


@command("排行", aliases=("排名", "排行榜"), needs_binding=False)
def ranking(ctx: Context) -> Reply:
    """排行：查看各部门完成进度排名（牵头项权重2、配合项1，★项加倍；完成率相同的并列）"""
    statuses, overrides, reached, last = ctx.store.assignments.ranking_inputs()
    stars = starred_ids(ctx.catalog, overrides)
    rows = rank(compute_scores(statuses, stars, reached, ctx.catalog.regular_ids))
    if not rows:
        return Reply("暂无排名。")
    dept = ctx.department
    show = rows if ctx.is_admin else rows[:TOP]
    lines = [f"**各部门进度排名（共 {len(rows)} 个部门）**"]
    for r in show:
        mark = " ← 本部门" if r.score.department == dept else ""
        lines.append(f"{r.rank}. {r.score.department} {r.score.percent}%{_delta(last, r)}{mark}")
    mine = next((r for r in rows if r.score.department == dept), None)
    if mine and mine not in show:
        lines.append("…")
        lines.append(f"{mine.rank}. {dept} {mine.score.percent}%{_delta(last, mine)} ← 本部门")
    lines.append(texts.RANKING_RULE)
    bonus = bonus_contributors(statuses, ctx.catalog.bonus_ids)
    if bonus:
        lines.append(texts.bonus_line(bonus))
    return Reply("\n".join(lines))


def _delta(last: dict[str, int], row) -> str:
    before = last.get(row.score.department)
    if before is None or before == row.rank:
        return ""
    return f" ↑{before - row.rank}" if before > row.rank else f" ↓{row.rank - before}"

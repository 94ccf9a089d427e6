"""进度: our progress, rank and workdays left."""

from bot import texts
from bot.commands import Context, command
from bot.messages import Reply
from bot.progress import Status, compute_scores, rank, sharing, starred_ids


@command("进度", preload="none")
def progress(ctx: Context) -> Reply:
    """进度：查看本部门完成进度、排名和剩余工作日"""
    dept = ctx.require_department()
    statuses, overrides, reached, _ = ctx.store.assignments.ranking_inputs()
    regular = ctx.catalog.regular_ids  # bonus and deduction items never count
    rows = rank(compute_scores(statuses, starred_ids(ctx.catalog, overrides), reached, regular))
    mine = next((r for r in rows if r.score.department == dept), None)
    if mine is None:
        return Reply(f"{dept}目前没有负责的指标。")
    s = mine.score
    parts = "，".join(f"{st.label} {n}" for st, n in zip(Status, s.by_status, strict=True) if n)
    return Reply(
        "\n".join(
            x
            for x in (
                f"**{dept} 进度：{s.percent}%**",
                f"共 {s.total_count} 项：{parts}",
                f"全区排名：第 {mine.rank} / {len(rows)} 名{texts.tie_note(sharing(rows, mine))}",
                texts.deadline_line(ctx.calendar, ctx.timeline, ctx.now),
                texts.RANKING_RULE,
            )
            if x
        )
    )

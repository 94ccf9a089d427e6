"""完成: mark our assignment done (needs a material or an explanation)."""

from bot import rules
from bot.commands import Context, IndicatorsParam, command
from bot.messages import Reply


@command("完成", IndicatorsParam(), preload="one")
def done(ctx: Context, ind) -> Reply:
    """完成 <编号…>：标记本部门该项已完成（需有材料或说明）；可写几项：完成 12 13、完成 12-15"""
    a, raw = ctx.own(ind)
    ctx.apply(
        a, raw, rules.mark_done(a, ind, starred=ctx.starred(ind), by=ctx.actor, at=ctx.now_iso())
    )
    return Reply(
        f"第{ind.id}项已标记完成（材料 {len(a.materials)} 份）。发送「我的任务」查看剩余事项。"
    )

"""撤销: undo our last change on an indicator."""

from bot import rules
from bot.commands import Context, IndicatorParam, command
from bot.messages import Reply


@command("撤销", IndicatorParam(), preload="one")
def undo(ctx: Context, ind) -> Reply:
    """撤销 <编号>：撤销本部门在该项上的最近一次操作"""
    a, raw = ctx.own(ind)
    edit = rules.undo_last(a, ind, ctx.preload.undo_top, by=ctx.actor, at=ctx.now_iso())
    ctx.apply(a, raw, edit)
    what = rules.UNDO_LABELS.get(edit.note, "上一次操作")
    after = edit.after
    return Reply(
        f"已撤销第{ind.id}项的「{what}」，当前状态：{after.status.label}，材料 {len(after.materials)} 份。"
    )

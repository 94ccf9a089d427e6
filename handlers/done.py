"""完成: mark our assignment done (needs a material or an explanation)."""

from bot.commands import Context, IndicatorsParam, UserError, command
from bot.messages import Reply
from bot.progress import Status


@command("完成", IndicatorsParam(), preload="one")
def done(ctx: Context, ind) -> Reply:
    """完成 <编号…>：标记本部门该项已完成（需有材料或说明）；可写几项：完成 12 13、完成 12-15"""
    a, raw = ctx.own(ind)
    if a.status is Status.DONE:
        raise UserError(f"第{ind.id}项已经标记完成，无需重复标记。")
    if a.status is Status.APPROVED:
        raise UserError(f"第{ind.id}项已经审核通过，无需再标记完成。")
    if ctx.starred(ind) and not a.rectification:
        raise UserError(
            f"第{ind.id}项是★整改项（前期网上申报显示需进一步加强整改），"
            f"请先发送「整改 {ind.id} 整改情况」写明整改说明，再标记完成。"
        )
    if not a.materials and not a.explanation:
        raise UserError(
            f"第{ind.id}项还没有材料或说明，不能标记完成。"
            f"请先发送「提交 {ind.id} 网址 名称」「纸质 {ind.id} 名称」或「说明 {ind.id} 文字」。"
        )
    after = a.changed(ctx.actor, ctx.now_iso(), status=Status.DONE, reason="")
    ctx.commit(a, raw, after, "done")
    return Reply(
        f"第{ind.id}项已标记完成（材料 {len(a.materials)} 份）。发送「我的任务」查看剩余事项。"
    )

"""删除: remove one of our materials by its number in 查看."""

from bot import texts
from bot.commands import Context, IndicatorParam, IntParam, UserError, command
from bot.messages import Reply
from bot.progress import status_after_edit


@command(
    "删除",
    IndicatorParam(),
    IntParam("number", missing="请写上材料序号，例如：删除 12 2（序号见「查看 12」）"),
    preload="one",
)
def delete(ctx: Context, ind, number: int) -> Reply:
    """删除 <编号> <材料序号>：删除本部门该项的一份材料（序号见「查看 编号」）"""
    a, raw = ctx.own(ind)
    if not a.materials:
        raise UserError(f"第{ind.id}项还没有材料。")
    if not 1 <= number <= len(a.materials):
        raise UserError(
            f"第{ind.id}项只有 {len(a.materials)} 份材料，序号应为 1–{len(a.materials)}。"
        )
    gone = a.materials[number - 1]
    materials = a.materials[: number - 1] + a.materials[number:]
    after = a.changed(
        ctx.actor,
        ctx.now_iso(),
        materials=materials,
        status=status_after_edit(a, materials, a.explanation),
    )
    ctx.commit(a, raw, after, "delete", note=gone.url or gone.title)
    return Reply(
        f"已删除第{ind.id}项的材料「{texts.quoted(gone.name)}」，剩余 {len(materials)} 份"
        f"（{after.status.label}）。如删错了，发送「撤销 {ind.id}」。{texts.review_again(a, after)}"
    )

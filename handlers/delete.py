"""删除: remove one of our materials by its number in 查看."""

from bot import rules, texts
from bot.commands import Context, IndicatorParam, IntParam, command
from bot.messages import Reply


@command(
    "删除",
    IndicatorParam(),
    IntParam("number", missing="请写上材料序号，例如：删除 12 2（序号见「查看 12」）"),
    preload="one",
)
def delete(ctx: Context, ind, number: int) -> Reply:
    """删除 <编号> <材料序号>：删除本部门该项的一份材料（序号见「查看 编号」）"""
    a, raw = ctx.own(ind)
    edit = rules.delete_material(a, ind, number, by=ctx.actor, at=ctx.now_iso())
    ctx.apply(a, raw, edit)
    gone, after = a.materials[number - 1], edit.after
    return Reply(
        f"已删除第{ind.id}项的材料「{texts.quoted(gone.name)}」，剩余 {len(after.materials)} 份"
        f"（{after.status.label}）。如删错了，发送「撤销 {ind.id}」。{texts.review_again(a, after)}"
    )

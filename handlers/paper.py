"""纸质: add a paper material (bound in the department's volumes) to our catalogue."""

from bot import texts
from bot.commands import Context, IndicatorParam, TextParam, UserError, command
from bot.messages import Reply
from bot.progress import Material, status_after_edit

MAX_MATERIALS = 50


@command(
    "纸质",
    IndicatorParam(),
    TextParam(
        "title", missing="请写上纸质材料的名称，例如：纸质 12 2019年执法案卷评查记录", max_len=200
    ),
    preload="one",
)
def paper(ctx: Context, ind, title: str) -> Reply:
    """纸质 <编号> <名称>：登记一份纸质材料（纸质材料不用报送，整理成册备查）"""
    a, raw = ctx.own(ind)
    if any(m.title == title and not m.url for m in a.materials):
        raise UserError(f"第{ind.id}项已有纸质材料「{texts.quoted(title)}」，无需重复登记。")
    if len(a.materials) >= MAX_MATERIALS:
        raise UserError(f"第{ind.id}项最多 {MAX_MATERIALS} 份材料，请先删除不需要的材料。")
    at = ctx.now_iso()
    materials = a.materials + (Material(title, "", ctx.binding.name or ctx.msg.user_id, at),)
    after = a.changed(
        ctx.actor, at, materials=materials, status=status_after_edit(a, materials, a.explanation)
    )
    ctx.commit(a, raw, after, "paper")
    return Reply(
        f"已登记第{ind.id}项纸质材料「{texts.quoted(title)}」，本项现有材料 {len(materials)} 份"
        f"（{after.status.label}）。纸质材料请整理成册，备9月实地查验。{texts.review_again(a, after)}"
    )

"""纸质: add a paper material (bound in the department's volumes) to our catalogue, with where
it is kept; a 涉密 one (its indicator's 考评要点 says so, or its name does) must say where."""

from bot import texts
from bot.catalog import SECRET_MARK
from bot.commands import Context, IndicatorParam, PaperParam, UserError, command
from bot.messages import Reply
from bot.progress import SECRET_LABEL, Material, status_after_edit

MAX_MATERIALS = 50


@command(
    "纸质",
    IndicatorParam(),
    PaperParam(
        "paper",
        missing="请写上纸质材料的名称，例如：纸质 12 2019年执法案卷评查记录 存放：档案室3号柜",
    ),
    preload="one",
)
def paper(ctx: Context, ind, paper) -> Reply:
    """纸质 <编号> <名称> [存放：位置]：登记一份纸质材料（纸质材料不用报送，整理成册备查）
    例：纸质 12 2019年执法案卷评查记录 存放：档案室3号柜
    涉密材料也用「纸质」登记，须写明存放位置；它不上网、不随邮件报送。"""
    title, place = paper
    a, raw = ctx.own(ind)
    secret = ind.is_secret or SECRET_MARK in title
    if secret and not place:
        raise UserError(texts.SECRET_NEEDS_PLACE.format(n=ind.id, title=texts.quoted(title)))
    if any(m.title == title and not m.url for m in a.materials):
        raise UserError(f"第{ind.id}项已有纸质材料「{texts.quoted(title)}」，无需重复登记。")
    if len(a.materials) >= MAX_MATERIALS:
        raise UserError(f"第{ind.id}项最多 {MAX_MATERIALS} 份材料，请先删除不需要的材料。")
    at = ctx.now_iso()
    who = ctx.binding.name or ctx.msg.user_id
    materials = a.materials + (Material(title, "", who, at, place, secret),)
    after = a.changed(
        ctx.actor, at, materials=materials, status=status_after_edit(a, materials, a.explanation)
    )
    ctx.commit(a, raw, after, "paper")
    n, name, where = len(materials), texts.quoted(title), texts.quoted(place)
    if secret:
        head = (
            f"已登记第{ind.id}项涉密材料（存放：{where}），本项现有材料 {n} 份"
            f"（{after.status.label}）。涉密材料不上网、不随邮件报送，"
            f"资料目录中显示为「{SECRET_LABEL}」。"
        )
    elif place:
        head = (
            f"已登记第{ind.id}项纸质材料「{name}」（存放：{where}），本项现有材料 {n} 份"
            f"（{after.status.label}）。纸质材料请整理成册，备实地查验。"
        )
    else:
        head = (
            f"已登记第{ind.id}项纸质材料「{name}」，本项现有材料 {n} 份（{after.status.label}）。"
            f"请写明存放位置以备实地查验：存放 {ind.id} {n} 档案室3号柜"
        )
    return Reply(head + texts.review_again(a, after))

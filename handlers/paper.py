"""纸质: add a paper material (bound in the department's volumes) to our catalogue, with where
it is kept; a 涉密 one (its indicator's 考评要点 says so, or its name does) must say where."""

from bot import rules, texts
from bot.commands import Context, IndicatorParam, PaperParam, command
from bot.messages import Reply
from bot.progress import SECRET_LABEL


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
    who = ctx.binding.name or ctx.msg.user_id
    edit = rules.add_paper(a, ind, title, place, who=who, by=ctx.actor, at=ctx.now_iso())
    ctx.apply(a, raw, edit)
    after, materials = edit.after, edit.after.materials
    secret = materials[-1].secret
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

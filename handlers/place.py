"""存放: say where one of our paper materials is kept (for the on-site inspection)."""

from bot import rules, texts
from bot.commands import Context, IndicatorParam, IntParam, TextParam, command
from bot.messages import Reply


@command(
    "存放",
    IndicatorParam(),
    IntParam("number", missing="请写上材料序号，例如：存放 12 1 档案室3号柜（序号见「查看 12」）"),
    TextParam(
        "place",
        missing=texts.NEED_PLACE.replace("纸质 12 2019年执法案卷 存放：", "存放 12 1 "),
        max_len=200,
    ),
    preload="one",
)
def place(ctx: Context, ind, number: int, place: str) -> Reply:
    """存放 <编号> <材料序号> <位置>：写明一份纸质材料的存放位置（序号见「查看 编号」）"""
    a, raw = ctx.own(ind)
    ctx.apply(a, raw, rules.place_material(a, ind, number, place, by=ctx.actor, at=ctx.now_iso()))
    m = a.materials[number - 1]
    what = "涉密材料" if m.is_secret_in(ind) else f"纸质材料「{texts.quoted(m.title)}」"
    where = texts.quoted(place)
    return Reply(f"已写明第{ind.id}项{what}的存放位置：{where}。如写错了，发送「撤销 {ind.id}」。")

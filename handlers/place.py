"""存放: say where one of our paper materials is kept (for the on-site inspection)."""

from dataclasses import replace

from bot import texts
from bot.commands import Context, IndicatorParam, IntParam, TextParam, UserError, command
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
    if not 1 <= number <= len(a.materials):
        if not a.materials:
            raise UserError(f"第{ind.id}项还没有材料。")
        raise UserError(
            f"第{ind.id}项只有 {len(a.materials)} 份材料，序号应为 1–{len(a.materials)}。"
        )
    m = a.materials[number - 1]
    if m.url:
        raise UserError(f"第{ind.id}项第{number}份是网上链接，无需存放位置。")
    if m.location == place:
        raise UserError(f"第{ind.id}项第{number}份已写明存放在{texts.quoted(place)}，无需重复。")
    materials = a.materials[: number - 1] + (replace(m, location=place),) + a.materials[number:]
    after = a.changed(ctx.actor, ctx.now_iso(), materials=materials)
    ctx.commit(a, raw, after, "place", note=place)
    what = "涉密材料" if m.is_secret_in(ind) else f"纸质材料「{texts.quoted(m.title)}」"
    where = texts.quoted(place)
    return Reply(f"已写明第{ind.id}项{what}的存放位置：{where}。如写错了，发送「撤销 {ind.id}」。")

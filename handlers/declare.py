"""声明: answer a deduction item (减分项) by a declaration 「本单位无……情形」 or a disclosure."""

from bot import rules, texts
from bot.commands import Context, IndicatorParam, TextParam, UserError, command
from bot.messages import Reply

DISCLOSE = ("有", "存在")


def declaration(level3: str) -> str:
    """「本单位无发生严重违法行政行为……的情形。」 from the item's own wording."""
    return f"本单位无{level3.rstrip('。；;').removesuffix('的')}的情形。"


@command(
    "声明",
    IndicatorParam(),
    TextParam("text", max_len=2000),
    preload="one",
)
def declare(ctx: Context, ind, text: str) -> Reply:
    """声明 <编号> [有 <情况说明>]：对减分项作出声明（不写内容即声明本单位无此情形）
    例：声明 98（本单位无此情形）；声明 98 有 2019年某执法案件被复议撤销，已整改……"""
    rules.require_declarable(ind)
    a, raw = ctx.own(ind)
    head, _, rest = text.partition(" ")
    if text and head not in DISCLOSE and not text.startswith(DISCLOSE):
        raise UserError(
            f"声明内容请以「有」开头说明情况，例如：声明 {ind.id} 有 ……；"
            f"本单位无此情形时只发送「声明 {ind.id}」。"
        )
    if text:
        detail = (
            rest.strip()
            if head in DISCLOSE
            else text.removeprefix("有").removeprefix("存在").strip()
        )
        if not detail:
            raise UserError(f"请写明具体情况，例如：声明 {ind.id} 有 ……")
        said = f"本单位存在以下情形：{detail}"
    else:
        said = declaration(ind.level3)
    ctx.apply(a, raw, rules.declare(a, ind, said, by=ctx.actor, at=ctx.now_iso()))
    return Reply(
        f"已记录第{ind.id}项的声明：{texts.quoted(said)}（随报送材料说明一并报送；"
        f"如有误，发送「撤销 {ind.id}」。）"
    )

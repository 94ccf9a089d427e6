"""整改: write the rectification note (整改说明) of a ★ item, which 完成 needs."""

from bot import texts
from bot.commands import Context, IndicatorParam, TextParam, UserError, command
from bot.messages import Reply
from bot.progress import status_after_edit


@command(
    "整改",
    IndicatorParam(),
    TextParam(
        "text",
        missing="请写上整改情况，例如：整改 12 已补充2019年以来的执法公示台账并在网站公开",
        max_len=2000,
    ),
    aliases=("整改说明",),
    preload="one",
)
def rectify(ctx: Context, ind, text: str) -> Reply:
    """整改 <编号> <整改情况>：填写★项的整改说明（★项须先写整改说明才能标记完成）"""
    if not ctx.starred(ind):
        raise UserError(
            f"第{ind.id}项不是★整改项，无需整改说明；报送说明请发送「说明 {ind.id} 文字」。"
        )
    a, raw = ctx.own(ind)
    if text == a.rectification:
        raise UserError(f"第{ind.id}项的整改说明与现有内容相同，未作修改。")
    at = ctx.now_iso()
    after = a.changed(
        ctx.actor,
        at,
        rectification=text,
        status=status_after_edit(a, a.materials, a.explanation, text),
    )
    ctx.commit(a, raw, after, "rectify")
    verb = "已更新" if a.rectification else "已保存"
    tail = "" if after.is_complete else f"材料齐全后请发送「完成 {ind.id}」。"
    return Reply(
        f"{verb}第{ind.id}项的整改说明（{len(text)} 字），当前状态：{after.status.label}。"
        f"{tail}{texts.review_again(a, after)}"
    )

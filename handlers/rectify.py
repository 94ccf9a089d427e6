"""整改: write the rectification note (整改说明) of a ★ item, which 完成 needs."""

from bot import rules, texts
from bot.commands import Context, IndicatorParam, TextParam, command
from bot.messages import Reply


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
    starred = ctx.starred(ind)
    rules.require_star(ind, starred)  # before asking whether the item is ours
    a, raw = ctx.own(ind)
    edit = rules.rectify(a, ind, text, starred=starred, by=ctx.actor, at=ctx.now_iso())
    ctx.apply(a, raw, edit)
    after = edit.after
    verb = "已更新" if a.rectification else "已保存"
    tail = "" if after.is_complete else f"材料齐全后请发送「完成 {ind.id}」。"
    return Reply(
        f"{verb}第{ind.id}项的整改说明（{len(text)} 字），当前状态：{after.status.label}。"
        f"{tail}{texts.review_again(a, after)}"
    )

"""不涉及: a cooperating unit has nothing for an indicator, with a reason."""

from bot import rules, texts
from bot.commands import Context, IndicatorParam, TextParam, command
from bot.messages import Reply


@command(
    "不涉及",
    IndicatorParam(),
    TextParam(
        "reason",
        missing="请写明原因，例如：不涉及 20 我单位无政府购买服务项目",
        max_len=rules.MAX_REASON,
    ),
    preload="one",
)
def not_applicable(ctx: Context, ind, reason: str) -> Reply:
    """不涉及 <编号> <原因>：配合单位确无相关工作时使用，须写明原因"""
    assigned = ind.id in ctx.preload.assignments
    a, raw = ctx.own(ind)
    edit = rules.mark_not_applicable(
        a, ind, reason, assigned=assigned, by=ctx.actor, at=ctx.now_iso()
    )
    ctx.apply(a, raw, edit)
    return Reply(
        f"第{ind.id}项已标记为不涉及，原因：{texts.quoted(reason)}。如有误，发送「撤销 {ind.id}」。"
    )

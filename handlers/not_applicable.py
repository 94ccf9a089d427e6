"""不涉及: a cooperating unit has nothing for an indicator, with a reason."""

from bot import texts
from bot.commands import Context, IndicatorParam, TextParam, UserError, command
from bot.messages import Reply
from bot.progress import Role, Status


@command(
    "不涉及",
    IndicatorParam(),
    TextParam(
        "reason", missing="请写明原因，例如：不涉及 20 我单位无政府购买服务项目", max_len=500
    ),
    preload="one",
)
def not_applicable(ctx: Context, ind, reason: str) -> Reply:
    """不涉及 <编号> <原因>：配合单位确无相关工作时使用，须写明原因"""
    if ind.kind == "bonus" and ind.id not in ctx.preload.assignments:
        raise UserError(f"第{ind.id}项是加分项，自愿申报，不涉及时无需标记。")
    a, raw = ctx.own(ind)
    # bonus and deduction items never count: a lead unit may say it has nothing for them
    if a.role is Role.LEAD and ind.is_regular:
        raise UserError(
            f"{a.department}是第{ind.id}项的牵头单位，不能标记不涉及。请提交材料后发送「完成 {ind.id}」。"
        )
    if a.status is Status.NOT_APPLICABLE and a.reason == reason:
        raise UserError(f"第{ind.id}项已标记为不涉及，无需重复。")
    after = a.changed(ctx.actor, ctx.now_iso(), status=Status.NOT_APPLICABLE, reason=reason)
    ctx.commit(a, raw, after, "not_applicable", note=reason)
    return Reply(
        f"第{ind.id}项已标记为不涉及，原因：{texts.quoted(reason)}。如有误，发送「撤销 {ind.id}」。"
    )

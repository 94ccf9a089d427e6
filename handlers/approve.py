"""通过: admin approves a department's assignment; the department is told at once. Anything but
已完成 is approved only when confirmed (「通过 12 司法局 确认」), after the reason to doubt it."""

from bot import filllinks, rules, texts
from bot.commands import ChoiceParam, Context, IndicatorParam, TokenParam, command
from bot.messages import Reply
from bot.review import find_assignment


@command(
    "通过",
    IndicatorParam(),
    TokenParam("department", missing="请写上部门，例如：通过 12 司法局"),
    ChoiceParam("confirm", ("确认",), "部门后面只能写「确认」，例如：通过 12 司法局 确认"),
    admin=True,
    needs_binding=False,
)
def approve(ctx: Context, ind, department: str, confirm: str) -> Reply:
    """通过 <编号> <部门>：审核通过该部门在该项的材料
    该部门尚未标记完成的，会先说明情况，确认后发送「通过 <编号> <部门> 确认」。"""
    a, raw = find_assignment(ctx, ind, department)

    def links():
        return ctx.store.links.states(m.url for m in a.materials if m.url)

    door = tuple(filllinks.door_for(ctx.services, a.department, (ind.id,)))
    edit = rules.approve(
        a, ind, confirmed=bool(confirm), links=links, buttons=door, by=ctx.actor,
        at=ctx.now_iso(),
    )  # fmt: skip
    ctx.apply(a, raw, edit)
    return Reply(texts.APPROVED.format(dept=a.department, n=ind.id))

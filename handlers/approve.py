"""通过: admin approves a department's assignment; the department is told at once. Anything but
已完成 is approved only when confirmed (「通过 12 司法局 确认」), after the reason to doubt it."""

from bot.commands import ChoiceParam, Context, IndicatorParam, TokenParam, UserError, command
from bot.messages import Notice, Reply
from bot.progress import Status
from bot.review import approval_doubt, find_assignment


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
    if a.status is Status.APPROVED:
        raise UserError(f"{a.department}第{ind.id}项已经审核通过，无需重复操作。")
    if a.status is Status.TODO:
        raise UserError(
            f"{a.department}第{ind.id}项尚无任何材料，不能通过。可发送「催办 {a.department}」。"
        )
    if a.status is not Status.DONE and not confirm:
        links = ctx.store.link_states(m.url for m in a.materials if m.url)
        return Reply(
            f"{a.department}第{ind.id}项{approval_doubt(a, links)}，本次没有通过。\n"
            f"如确认要通过，请发送「通过 {ind.id} {a.department} 确认」。"
        )
    after = a.changed(ctx.actor, ctx.now_iso(), status=Status.APPROVED, reason="")
    notice = Notice(f"✅ 第{ind.id}项已通过依法治区办审核，辛苦了！", a.department, kind="review")
    ctx.commit(a, raw, after, "approve", notices=(notice,))
    return Reply(f"已通过{a.department}第{ind.id}项，并已通知该部门。")

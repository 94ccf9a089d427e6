"""通过: admin approves a department's assignment; the department is told at once."""

from bot.commands import Context, IndicatorParam, TokenParam, UserError, command
from bot.messages import Notice, Reply
from bot.progress import Status
from bot.review import find_assignment


@command(
    "通过",
    IndicatorParam(),
    TokenParam("department", missing="请写上部门，例如：通过 12 司法局"),
    admin=True,
    needs_binding=False,
)
def approve(ctx: Context, ind, department: str) -> Reply:
    """通过 <编号> <部门>：审核通过该部门在该项的材料"""
    a, raw = find_assignment(ctx, ind, department)
    if a.status is Status.APPROVED:
        raise UserError(f"{a.department}第{ind.id}项已是已通过。")
    if a.status is Status.TODO:
        raise UserError(
            f"{a.department}第{ind.id}项尚无任何材料，不能通过。可发送「催办 {a.department}」。"
        )
    after = a.changed(ctx.actor, ctx.now_iso(), status=Status.APPROVED, reason="")
    notice = Notice(f"✅ 第{ind.id}项已通过依法治区办审核，辛苦了！", a.department, kind="review")
    ctx.commit(a, raw, after, "approve", notices=(notice,))
    return Reply(f"已通过{a.department}第{ind.id}项，并已通知该部门。")

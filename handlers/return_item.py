"""退回: admin returns a department's assignment with a reason; the department is told at once."""

from bot import texts
from bot.commands import Context, IndicatorParam, TextParam, TokenParam, UserError, command
from bot.messages import Notice, Reply
from bot.progress import Status
from bot.review import find_assignment, liaisons


@command(
    "退回",
    IndicatorParam(),
    TokenParam("department", missing="请写上部门和原因，例如：退回 12 司法局 缺少2019年台账"),
    TextParam("reason", missing="请写明退回原因，例如：退回 12 司法局 缺少2019年台账", max_len=500),
    admin=True,
    needs_binding=False,
)
def return_item(ctx: Context, ind, department: str, reason: str) -> Reply:
    """退回 <编号> <部门> <原因>：退回该部门在该项的材料，并通知该部门"""
    a, raw = find_assignment(ctx, ind, department)
    if a.status is Status.TODO:
        raise UserError(
            f"{a.department}第{ind.id}项还没有开始，没有可以退回的材料。"
            f"如需提醒，请发送「催办 {a.department}」。"
        )
    if a.status is Status.RETURNED and a.reason == reason:
        raise UserError(f"{a.department}第{ind.id}项已按同样的原因退回过。")
    after = a.changed(ctx.actor, ctx.now_iso(), status=Status.RETURNED, reason=reason)
    notice = Notice(
        f"🔴 第{ind.id}项被依法治区办退回。\n原因：{texts.quoted(reason)}\n"
        f"请补充修改后发送「完成 {ind.id}」。查看详情：查看 {ind.id}",
        a.department,
        mentions=liaisons(ctx, a.department),
        kind="review",
    )
    ctx.commit(a, raw, after, "return", notices=(notice,), note=reason)
    return Reply(f"已退回{a.department}第{ind.id}项，原因已通知该部门。")

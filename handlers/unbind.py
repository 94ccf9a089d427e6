"""解绑: remove the sender's binding."""

from bot import texts
from bot.commands import Context, UserError, command
from bot.messages import Notice, Reply
from bot.review import fold_window


@command("解绑")
def unbind(ctx: Context) -> Reply:
    """解绑：解除自己与部门的绑定"""
    before = ctx.binding
    if before.via_chat:
        raise UserError(
            f"您没有绑定部门：在{before.department}的工作群里发送的命令自动按{before.department}处理，无需解绑。"
        )
    who = before.name or ctx.msg.user_id
    notice = Notice(
        f"{texts.quoted(who, 32)} 已解除与{before.department}的绑定。",
        before.department,
        kind="binding",
    )
    ctx.store.bindings.set(
        ctx.msg.platform, ctx.msg.user_id, before, None, ctx.actor, (notice,),
        fold_s=fold_window(ctx), name=who, claim=ctx.claim,
    )  # fmt: skip
    return Reply(f"已解除与{before.department}的绑定。如需重新绑定，请发送「绑定 部门名称」。")

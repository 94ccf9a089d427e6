"""绑定: bind the sender to a department (names and aliases, fuzzy)."""

from bot import texts
from bot.commands import Context, TextParam, UserError, command
from bot.messages import Notice, Reply
from bot.records import Binding
from bot.review import fold_window, resolve_department


@command(
    "绑定", TextParam("name", missing="请写上部门名称，例如：绑定 司法局"), needs_binding=False
)
def bind(ctx: Context, name: str) -> Reply:
    """绑定 <部门>：把自己绑定到本部门（之后的提交都记在该部门名下）"""
    if not ctx.org.self_bind and not ctx.is_admin:
        raise UserError("本区不允许自行绑定，请联系依法治区办为您登记。")
    dept = resolve_department(ctx, name, example="绑定 {name}")
    before = ctx.binding if ctx.binding and not ctx.binding.via_chat else None
    if before and before.department == dept:
        return Reply(f"您已绑定在{dept}，无需重复绑定。发送「我的任务」查看本部门待办。")
    listed = ctx.org.member(ctx.msg.platform, ctx.msg.user_id)
    role = listed.role if listed and listed.department == dept else "member"
    who = ctx.msg.user_name or (listed.name if listed else "") or ctx.msg.user_id
    after = Binding(ctx.msg.platform, ctx.msg.user_id, dept, who, role, ctx.now_iso())
    settings = ctx.services.settings
    if settings is not None and settings.bind_approval and not ctx.is_admin:
        return _ask(ctx, after)
    notice = Notice(
        f"{texts.quoted(who, 32)} 已绑定为{dept}成员，可在群里提交本部门的创建材料。",
        dept,
        kind="binding",
    )
    ctx.store.bindings.set(
        ctx.msg.platform, ctx.msg.user_id, before, after, ctx.actor, (notice,),
        fold_s=fold_window(ctx), name=who, claim=ctx.claim,
    )  # fmt: skip
    regular = ctx.catalog.regular_ids  # as 我的任务 counts: bonus and deduction items apart
    count = sum(1 for (i, d) in ctx.services.assignments if d == dept and i in regular)
    moved = f"（已从{before.department}改绑）" if before else ""
    return Reply(
        f"已绑定到**{dept}**{moved}。本部门负责 {count} 项指标，发送「我的任务」查看待办。"
    )


def _ask(ctx: Context, wanted: Binding) -> Reply:
    """With Settings.bind_approval the office decides: the request waits on /admin/bindings
    (a newer one replaces an older one), and the office is told there is one."""
    dept, who = wanted.department, wanted.name
    pending, raw = ctx.store.bindings.request(ctx.msg.platform, ctx.msg.user_id)
    if pending is not None and pending.department == dept:
        return Reply(f"您绑定到{dept}的申请正在等待依法治区办同意，无需重复申请。")
    notice = Notice(
        f"{texts.quoted(who, 32)} 申请绑定为{dept}成员，请在管理后台「绑定」页同意或拒绝。",
        "",
        kind="binding",
    )
    ctx.store.bindings.decide_request(
        ctx.msg.platform, ctx.msg.user_id, raw, wanted, "bind_request", ctx.actor,
        department=dept, notices=(notice,), claim=ctx.claim,
    )  # fmt: skip
    instead = f"（原先申请的{pending.department}已撤回）" if pending is not None else ""
    return Reply(
        f"已提交绑定到**{dept}**的申请{instead}，依法治区办同意后会在{dept}的工作群里通知您。"
    )

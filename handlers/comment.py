"""留言: the department's side of the thread with the office on one indicator."""

from bot import rules, texts
from bot.commands import Context, IndicatorParam, TextParam, UserError, command
from bot.messages import Notice, Reply


@command("留言", IndicatorParam(), TextParam("text", missing=rules.NEED_COMMENT), preload="one")
def comment(ctx: Context, ind, text: str) -> Reply:
    """留言 <编号> <内容>：就该项给依法治区办留言（往来留言用「查看 编号」）"""
    if ctx.is_admin and not ctx.department:
        raise UserError(f"请在管理后台第{ind.id}项的页面给部门留言。")
    ctx.own(ind)  # our item (refuses another department's)
    dept = ctx.require_department()
    who = ctx.msg.user_name or ctx.binding.name or ctx.msg.user_id
    entry = rules.comment(text, office=False, name=who)
    notice = Notice(
        f"💬 {dept}就第{ind.id}项留言（{texts.quoted(who, 32)}）：\n{texts.quoted(text)}\n"
        "请在管理后台该项页面查看和回复。",
        "",
        kind="review",
    )
    ctx.store.comments.add(ind.id, dept, entry, ctx.actor, (notice,), claim=ctx.claim)
    return Reply(f"已把留言转给依法治区办（第{ind.id}项）。往来留言可发送「查看 {ind.id}」。")

"""退回: admin returns a department's assignment with a reason; the department is told at once."""

from bot import filllinks, rules, texts
from bot.commands import Context, IndicatorParam, TextParam, TokenParam, command
from bot.messages import Reply
from bot.review import find_assignment, liaisons


@command(
    "退回",
    IndicatorParam(),
    TokenParam("department", missing="请写上部门和原因，例如：退回 12 司法局 缺少2019年台账"),
    TextParam(
        "reason",
        missing="请写明退回原因，例如：退回 12 司法局 缺少2019年台账",
        max_len=rules.MAX_REASON,
    ),
    admin=True,
    needs_binding=False,
)
def return_item(ctx: Context, ind, department: str, reason: str) -> Reply:
    """退回 <编号> <部门> <原因>：退回该部门在该项的材料，并通知该部门"""
    a, raw = find_assignment(ctx, ind, department)
    mentions = liaisons(ctx.org, ctx.store, a.department)
    door = tuple(filllinks.door_for(ctx.services, a.department, (ind.id,)))
    edit = rules.return_item(
        a, ind, reason, mentions=mentions, buttons=door, by=ctx.actor, at=ctx.now_iso()
    )
    ctx.apply(a, raw, edit)
    return Reply(texts.RETURNED.format(dept=a.department, n=ind.id))

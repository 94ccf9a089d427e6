"""催办: the office pushes reminders now, to one department or to every one with open items
(bot.reminders.remind_now, shared with the admin's button, with its cool-down)."""

from bot.commands import Context, TokenParam, command
from bot.messages import Reply
from bot.reminders import check_may_remind, remind_now
from bot.review import resolve_department

DEFAULT_COOLDOWN_MIN = 60  # when no settings are passed (DUBAN_REMIND_COOLDOWN_MIN's default)


@command("催办", TokenParam("department"), admin=True, needs_binding=False)
def remind(ctx: Context, department: str) -> Reply:
    """催办 [部门]：立即向该部门（不写则向所有未完成的部门）推送提醒（管理员）"""
    check_may_remind(ctx.calendar, ctx.timeline, ctx.now)
    dept = resolve_department(ctx, department) if department else ""
    settings = ctx.services.settings
    rest_min = settings.remind_cooldown_min if settings else DEFAULT_COOLDOWN_MIN
    said = remind_now(
        ctx.store, ctx.catalog, ctx.calendar, ctx.timeline, ctx.services.enqueue, dept, rest_min
    )
    return Reply(said)

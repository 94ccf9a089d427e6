"""催办: the office pushes reminders now, to one department or to every one with open items."""

from bot import texts
from bot.commands import Context, TokenParam, UserError, command
from bot.messages import Reply
from bot.review import resolve_department
from bot.schedule import job_id
from bot.timeline import ENDED


@command("催办", TokenParam("department"), admin=True, needs_binding=False)
def remind(ctx: Context, department: str) -> Reply:
    """催办 [部门]：立即向该部门（不写则向所有未完成的部门）推送提醒（管理员）"""
    cal = ctx.calendar
    if cal is not None and cal.is_quiet(ctx.now):
        raise UserError(texts.quiet_hours(cal, "催办"))
    if cal is not None and ctx.timeline.phase(cal.local_today(ctx.now)) == ENDED:
        raise UserError("本次创建活动已结束，不再推送提醒。")
    dept = resolve_department(ctx, department) if department else ""
    regular = ctx.catalog.regular_ids  # bonus and deduction items are nobody's chore
    open_count: dict[str, int] = {}
    for (ind, d), (_, status) in ctx.store.statuses().items():
        if ind in regular and not status.is_complete:
            open_count[d] = open_count.get(d, 0) + 1
    if dept and not open_count.get(dept):
        raise UserError(f"{dept}没有未完成的事项，无需催办。")
    targets = [dept] if dept else sorted(open_count)
    if not targets:
        return Reply("所有部门的事项均已完成，无需催办。")
    minute = (cal.local_now(ctx.now) if cal else ctx.now).strftime("%Y-%m-%d-%H%M")
    ctx.services["enqueue"](
        "bot.jobs.send_reminders",
        job_id=job_id("remind-now", dept or "all", minute),
        slot=f"now-{minute}",
        department=dept,
        now_iso=ctx.now_iso(),
    )
    if dept:
        return Reply(f"已安排向{dept}推送催办提醒（未完成 {open_count[dept]} 项），稍后送达。")
    items = sum(open_count.values())
    return Reply(f"已安排向 {len(targets)} 个部门推送催办提醒（共 {items} 项未完成），稍后送达。")

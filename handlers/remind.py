"""催办: the office pushes reminders now, to one department or to every one with open items.

Each department then rests for DUBAN_REMIND_COOLDOWN_MIN minutes (chat and the admin's button
share it): a group is not woken twice in a row because two people in the office pressed.
"""

import datetime as dt
import hashlib

from bot import texts
from bot.commands import Context, TokenParam, UserError, command
from bot.messages import Reply
from bot.review import resolve_department
from bot.schedule import job_id
from bot.timeline import ENDED

DEFAULT_COOLDOWN_MIN = 60  # when no settings are passed (DUBAN_REMIND_COOLDOWN_MIN's default)


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
    settings = ctx.services.get("settings")
    rest_min = settings.remind_cooldown_min if settings else DEFAULT_COOLDOWN_MIN
    at = ctx.now_iso()
    claimed = ctx.store.claim_reminds(targets, at, rest_min * 60)
    if not claimed:
        raise UserError(_resting(ctx, dept, rest_min))
    minute = (cal.local_now(ctx.now) if cal else ctx.now).strftime("%Y-%m-%d-%H%M")
    some = not dept and len(claimed) < len(targets)
    try:
        ctx.services["enqueue"](
            "bot.jobs.send_reminders",
            job_id=job_id("remind-now", dept or (_digest(claimed) if some else "all"), minute),
            slot=f"now-{minute}",
            department=dept,
            departments=claimed if some else None,
            now_iso=at,
        )
    except Exception:
        ctx.store.release_reminds(claimed, at)  # nothing was sent: the cool-down must not hold
        raise
    if dept:
        again = f"{rest_min} 分钟内不再重复催办该部门。" if rest_min else ""
        return Reply(
            f"已安排向{dept}推送催办提醒（未完成 {open_count[dept]} 项），稍后送达。{again}"
        )
    items = sum(open_count[d] for d in claimed)
    skipped = len(targets) - len(claimed)
    rest = f"另有 {skipped} 个部门 {rest_min} 分钟内刚催办过，本次跳过。" if skipped else ""
    return Reply(
        f"已安排向 {len(claimed)} 个部门推送催办提醒（共 {items} 项未完成），稍后送达。{rest}"
    )


def _resting(ctx: Context, dept: str, rest_min: int) -> str:
    """Why nothing was pushed: every target was reminded within the cool-down."""
    if not dept:
        return f"所有未完成的部门都在 {rest_min} 分钟内催办过，请稍后再试。"
    last = ctx.store.remind_cooldowns([dept]).get(dept)
    if last is None:  # its cool-down ended between the two reads: simply try again
        return f"{dept}刚刚催办过，请稍后再试。"
    when, left = last
    local = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    hhmm = (ctx.calendar.local_now(local) if ctx.calendar else local).strftime("%H:%M")
    return f"{dept}已于 {hhmm} 催办过，为免频繁打扰，请 {-(-left // 60)} 分钟后再催办。"


def _digest(departments: list[str]) -> str:
    """A short name for a set of departments: two partial 催办 in one minute are two jobs."""
    return "some-" + hashlib.sha1("|".join(departments).encode()).hexdigest()[:10]

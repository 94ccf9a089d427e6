"""查验日期: the office sets (or clears) the day of the on-site inspection once it is known."""

from bot import texts
from bot.commands import Context, DateParam, UserError, command
from bot.messages import Reply
from bot.timeline import Timeline

EXAMPLE = "例如：查验日期 9月15日，或「查验日期 清除」"


@command(
    "查验日期",
    DateParam("day", wrong=f"请写具体日期，{EXAMPLE}。"),
    aliases=("查验时间",),
    admin=True,
    needs_binding=False,
)
def event_date(ctx: Context, day) -> Reply:
    """查验日期 [日期/清除]：设置自治区实地查验的具体日期（管理员）
    日期确定前，各部门看到的是「9月（具体日期待定）」；设置后提醒会写明日期。"""
    campaign, timeline = ctx.catalog.campaign, ctx.timeline
    event = campaign.event("inspection") or (campaign.events[0] if campaign.events else None)
    if event is None:
        raise UserError("本次创建活动没有安排实地查验。")
    title = texts.event_title(event)
    current = timeline.event_date(event)
    if day is None:
        return Reply(
            f"{title}：{texts.event_when(timeline, event)}。"
            "设置日期请发送「查验日期 9月15日」，恢复为待定请发送「查验日期 清除」。"
        )
    if day == "":
        if ctx.preload.event_dates.get(event.key) is None:
            raise UserError(f"{title}尚未设置日期，无需清除。")
        ctx.store.set_event_date(
            event.key, ctx.preload.event_dates[event.key], None, ctx.actor, claim=ctx.claim
        )
        planned = texts.event_when(Timeline(campaign), event)
        return Reply(f"已清除{title}的日期，各部门将看到「{planned}」。")
    today = ctx.calendar.local_today(ctx.now) if ctx.calendar else campaign.issued_on
    if day < today:
        raise UserError(f"{texts.month_day(day)}已经过去，请写今天以后的日期。")
    if day == current:
        raise UserError(f"{title}已定于 {texts.month_day(day)}，无需重复设置。")
    ctx.store.set_event_date(
        event.key, ctx.preload.event_dates.get(event.key), day, ctx.actor, claim=ctx.claim
    )
    outside = ""
    if not event.window_start <= day <= event.window_end:
        planned = texts.event_when(Timeline(campaign), event).split("（")[0]
        outside = f"（注意：不在原定的{planned}内）"
    return Reply(
        f"已将{title}定于 {day.year}年{texts.month_day(day)}{outside}。"
        "各部门的提醒和「我的任务」将写明这一日期。"
    )

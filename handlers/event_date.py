"""查验日期: the office sets (or clears) the day of the on-site inspection once it is known."""

from bot import rules, texts
from bot.commands import Context, DateParam, command
from bot.messages import Reply

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
    campaign = ctx.catalog.campaign
    if day is None:
        event = rules.inspection(campaign)
        return Reply(
            f"{texts.event_title(event)}：{texts.event_when(ctx.timeline, event)}。"
            "设置日期请发送「查验日期 9月15日」，恢复为待定请发送「查验日期 清除」。"
        )
    today = ctx.calendar.local_today(ctx.now) if ctx.calendar else campaign.issued_on
    change = rules.set_inspection_day(campaign, ctx.preload.event_dates, day or None, today)
    ctx.store.assignments.set_event_date(
        change.key, change.expected, change.day, ctx.actor, claim=ctx.claim
    )
    return Reply(change.message)

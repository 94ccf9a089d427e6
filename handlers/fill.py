"""填报: the person's link to the department's fill-in page (/m/…), a new one each time."""

from bot import filllinks
from bot.commands import Context, command
from bot.messages import Reply

GROUP_REFUSAL = (
    "{dept}填报页链接仅限本人使用，不在群里发送。请私聊我发送「填报」，即可收到本人专属链接。"
)


@command("填报", aliases=("填报页",))
def fill(ctx: Context) -> Reply:
    """填报：获取本部门填报页链接（手机、电脑均可打开；发新链接后旧链接作废）"""
    dept = ctx.require_department()
    if ctx.msg.is_group:
        # a group sees every reply: a link that writes for this person must not land there
        return Reply(GROUP_REFUSAL.format(dept=dept), refused=True)
    url = filllinks.for_sender(ctx, fresh=True)
    days = ctx.services.settings.fill_link_days
    return Reply(
        f"{dept}填报页（仅限本人使用，{days} 天内有效，请勿转发）：\n{url}\n"
        "在页面上可查看本部门全部事项，提交链接、纸质材料和说明，标记完成。"
        "再次发送「填报」会换一个新链接，旧链接随即作废。"
    )

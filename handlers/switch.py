"""切换: pick the campaign a one-to-one chat acts on, when the deployment runs several."""

from bot.campaigns import SWITCH
from bot.commands import Context, TextParam, command
from bot.messages import Reply


@command(SWITCH, TextParam("which", max_len=80), needs_binding=False)
def switch(ctx: Context, which: str) -> Reply:
    """切换 [编号或名称]：私聊时选择要办理的督办活动（本部署有多个活动时）
    不写编号时列出可选的活动。选择会被记住，之后的私聊命令都按该活动办理。群聊固定属于一个活动。"""
    campaigns = ctx.services.campaigns
    if campaigns is None or len(campaigns.specs) < 2:
        return Reply(f"本系统只有一个督办活动「{ctx.catalog.campaign.name}」，无需切换。")
    return campaigns.switch(ctx.msg, which)

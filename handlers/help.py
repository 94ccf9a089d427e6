"""帮助: the command list, or one command's usage."""

from bot import texts
from bot.campaigns import SWITCH
from bot.commands import Command, Context, TokenParam, UserError, command
from bot.messages import Reply

# The list in the order a liaison uses the commands (the office's commands after them). A command
# not named here still shows, after these, in the order it was registered.
MENU = ("我的任务", "查看", "提交", "纸质", "说明", "完成", "不涉及", "删除", "撤销")
MENU += ("存放", "整改", "声明")  # paper's place, a ★ item's note, a deduction item's answer
MENU += ("进度", "排行", "导出", "报送", "绑定", "解绑", "切换", "帮助")
MENU += ("总览", "通过", "退回", "催办", "星标", "查验日期")


@command("帮助", TokenParam("name"), aliases=("help", "菜单", "?"), needs_binding=False)
def show_help(ctx: Context, name: str) -> Reply:
    """帮助 [命令]：查看全部命令，或某个命令的用法"""
    if name:
        cmd = ctx.registry.get(name)
        if cmd is None or (cmd.admin and not ctx.is_admin):
            raise UserError(f"没有「{texts.quoted(name, 20)}」这个命令。发送「帮助」查看全部命令。")
        lines = [f"**{cmd.usage}**"]
        if cmd.aliases:
            lines.append("也可以写：" + "、".join(cmd.aliases))
        if cmd.details:
            lines.append(cmd.details)
        return Reply("\n".join(lines))
    several = ctx.services.campaigns is not None and len(ctx.services.campaigns.specs) > 1
    # 切换 is for deployments of several campaigns only
    ordered = [
        c for c in sorted(ctx.registry.commands, key=_place) if several or c.keyword != SWITCH
    ]
    lines = ["**督办助手 · 可用命令**"]
    lines += [f"- {c.usage}" for c in ordered if not c.admin]
    if ctx.is_admin:
        lines.append("**管理员命令**")
        lines += [f"- {c.usage}" for c in ordered if c.admin]
    lines.append("指标编号可写 12、第12项、#12、十二。发送「帮助 提交」查看单个命令的说明。")
    return Reply("\n".join(lines))


def _place(cmd: Command) -> int:
    return MENU.index(cmd.keyword) if cmd.keyword in MENU else len(MENU)

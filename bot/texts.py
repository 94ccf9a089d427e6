"""Shared user-facing Chinese strings and small reply-formatting helpers.

Strings used by one command only live in that command's handler file; everything shared is here.
"""

from __future__ import annotations

import functools

from bot.catalog import Indicator
from bot.progress import Assignment, Material, Role, Status, TaskState
from bot.render import inert, link

HELLO = "您好，我是督办助手。发送「帮助」查看可用命令，发送「我的任务」查看本部门待办。"
UNKNOWN = "没听懂这句话。您是不是想用：{near}？发送「帮助」可查看全部命令。"
INTERNAL_ERROR = "抱歉，系统处理出错，本次操作未生效。请稍后重试，或联系依法治区办。"
BUSY = "同一事项正有他人在修改，本次操作未生效，请稍后再发一次。"
INTERRUPTED = "您的消息「{text}」处理时中断，无法确认是否已生效。请先用「我的任务」或「查看 编号」核对，需要时再发一次。"
USAGE = "用法：{usage}"
NOT_BOUND = "您还没有绑定部门，请先发送「绑定 部门名称」，例如：绑定 司法局"
ADMIN_ONLY = "「{cmd}」仅限依法治区办管理员使用。"
NEED_INDICATOR = "请写上指标编号（{lo}–{hi}），例如 12、第12项、#12。"
NO_SUCH_INDICATOR = "编号 {n} 不存在，指标编号为 {lo}–{hi}。"
NOT_RESPONSIBLE = "{dept} 不负责第 {n} 项。发送「我的任务」查看本部门负责的指标。"
BAD_URL = "链接需以 http:// 或 https:// 开头（收到：{url}）。"
NEED_URL = "请附上材料的网址，链接需以 http:// 或 https:// 开头。"
TOO_LONG = "内容过长，请控制在 {n} 字以内。"
QUIET_HOURS = "现在是免打扰时段（{start}–{end}），请在 {end} 以后再{action}。"
EXTRA_TEXT = "命令后面多了「{extra}」，本次没有执行。"
NO_DEPARTMENT = "没有找到部门「{name}」。请写部门全称，例如：司法局、行政审批局。"
AMBIGUOUS_DEPARTMENT = "「{name}」对应多个部门：{names}。请写全称，例如：{example}"

STATUS_ICON = {
    Status.TODO: "⚪",
    Status.IN_PROGRESS: "🔵",
    Status.DONE: "✅",
    Status.NOT_APPLICABLE: "➖",
    Status.RETURNED: "🔴",
    Status.APPROVED: "🏅",
}


@functools.lru_cache(maxsize=4096)  # indicator texts repeat in every task list
def quiet_hours(cal, action: str) -> str:
    """The refusal of a push asked for during quiet hours (催办, 立即推送排名)."""
    return QUIET_HOURS.format(
        start=f"{cal.quiet_start:%H:%M}", end=f"{cal.quiet_end:%H:%M}", action=action
    )


def review_again(before: Assignment, after: Assignment) -> str:
    """The line an edit adds when it takes back an approval (progress.status_after_edit)."""
    if before.status is Status.APPROVED and after.status is not Status.APPROVED:
        return "本项原已通过审核，修改后需依法治区办重新审核。"
    return ""


def shorten(text: str, n: int = 28) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def indicator_line(ind: Indicator, a: Assignment | TaskState, starred: bool) -> str:
    return _indicator_line(ind.id, ind.level3, a.role, a.status, starred)


@functools.lru_cache(maxsize=8192)  # a task list is 70-odd of these, mostly unchanged
def _indicator_line(ind_id: int, level3: str, role: Role, status: Status, starred: bool) -> str:
    star = "★" if starred else ""
    return f"{STATUS_ICON[status]} 第{ind_id}项{star}【{role.label}】{shorten(level3)}（{status.label}）"


def material_line(i: int, m: Material) -> str:
    if m.url:
        return f"{i}. {link(m.title, m.url)}"
    return f"{i}. {inert(m.title)}（纸质）"


def quoted(text: str, n: int = 0) -> str:
    """What someone wrote, quoted back in a message: shortened to `n` characters if given,
    and inert (bot.render.inert)."""
    return inert(shorten(text, n) if n else text)


def progress_counts(assignments: list[Assignment]) -> str:
    done = sum(1 for a in assignments if a.is_complete)
    return f"已完成 {done}/{len(assignments)}"


def deadline_line(calendar, campaign, now) -> str:
    """'距「资料目录报送」截止（8月19日）还有 4 个工作日。' or the overdue form."""
    if calendar is None:
        return ""
    today = calendar.local_today(now)
    dl = campaign.next_deadline(today)
    if dl is None:
        last = campaign.deadlines[-1]
        return f"「{last.name}」已于 {last.date.month}月{last.date.day}日 截止。"
    day = f"{dl.date.month}月{dl.date.day}日"
    if dl.date == today:
        return f"今天是「{dl.name}」截止日（{day}）。"
    left = calendar.workdays_left(today, dl.date)
    return f"距「{dl.name}」截止（{day}）还有 {left} 个工作日。"

"""Shared user-facing Chinese strings and small reply-formatting helpers.

Strings used by one command only live in that command's handler file; everything shared is here.
"""

from __future__ import annotations

import functools

from bot.catalog import Indicator
from bot.progress import Assignment, Material, Role, Status, TaskState

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
NOT_RESPONSIBLE_OF = (
    "{dept} 不负责第 {n} 项。发送「查看 {n}」可以看到该项的责任单位。"  # to the office
)
BAD_URL = "链接需以 http:// 或 https:// 开头（收到：{url}）。"
NEED_URL = "请附上材料的网址，链接需以 http:// 或 https:// 开头。"
TOO_LONG = "内容过长，请控制在 {n} 字以内。"
UNSTORABLE = "消息里有一个无法保存的特殊字符（{code}），本次没有执行。请删去它（多见于从别处复制的文字）后重新发送。"
COMPLETION_RULE = "完成率按权重计算：牵头项计2、配合项计1，★项加倍"
RANKING_RULE = f"{COMPLETION_RULE}；完成率相同的名次并列，先达到的排在前面。"


QUIET_HOURS = "现在是免打扰时段（{start}–{end}），请在 {end} 以后再{action}。"
EXTRA_TEXT = "命令后面多了「{extra}」，本次没有执行。"
NO_DEPARTMENT = "没有找到部门「{name}」。请写部门全称，例如：司法局、行政审批局。"
AMBIGUOUS_DEPARTMENT = "「{name}」对应多个部门：{names}。请写全称，例如：{example}"

# Why a link check failed, by the error code bot.links records (never shown as the code).
LINK_ERRORS = {
    "bad_url": "网址格式不正确",
    "bad_scheme": "只能检查 http:// 或 https:// 开头的网址",
    "dns": "域名无法解析",
    "refused_private": "网址指向内网或保留地址，不予访问",
    "connect": "无法连接到网站",
    "timeout": "访问超时",
    "ssl": "网站证书或加密连接有误",
    "too_many_redirects": "跳转次数过多",
    "too_large": "页面过大，只读取了开头部分",
    "read_error": "读取网页内容出错",
    "error": "检查时出错",
}


def link_error(code: str) -> str:
    """The Chinese sentence for a link check's error code ("" for no error)."""
    if not code:
        return ""
    if code.startswith("http_"):
        status = code[5:]
        if status == "404":
            return "网页不存在（HTTP 404）"
        return f"网站返回错误（HTTP {status}）"
    return LINK_ERRORS.get(code, LINK_ERRORS["error"])


def link_problem(state: dict) -> str:
    """Why a checked link does not open, from its stored state, in words."""
    if state.get("error"):
        return link_error(state["error"])
    if state.get("status"):
        return link_error(f"http_{state['status']}")
    return LINK_ERRORS["error"]


def tie_note(others: int) -> str:
    """「（与 3 个部门并列）」 after a shared rank; "" for a rank of one's own."""
    return f"（与 {others} 个部门并列）" if others else ""


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
        return f"{i}. [{m.title or m.url}]({m.url})"
    return f"{i}. {m.title}（纸质）"


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

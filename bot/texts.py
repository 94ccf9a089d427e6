"""Shared user-facing Chinese strings and small reply-formatting helpers.

Strings used by one command only live in that command's handler file; everything shared is here.
"""

from __future__ import annotations

import datetime as _dt
import functools

from bot.catalog import Indicator
from bot.progress import Assignment, Material, Status, TaskState, size_text
from bot.render import inert, link
from bot.timeline import ENDED, RUNNING

HELLO = "您好，我是督办助手。发送「帮助」查看可用命令，发送「我的任务」查看本部门待办。"
UNKNOWN = "没听懂这句话。您是不是想用：{near}？发送「帮助」可查看全部命令。"
INTERNAL_ERROR = "抱歉，系统处理出错，本次操作未生效。请稍后重试，或联系依法治区办。"
BUSY = "同一事项正有他人在修改，本次操作未生效，请稍后再发一次。"
INTERRUPTED = "您的消息「{text}」处理时中断，无法确认是否已生效。请先用「我的任务」或「查看 编号」核对，需要时再发一次。"
USAGE = "用法：{usage}"
NOT_BOUND = "您还没有绑定部门，请先发送「绑定 部门名称」，例如：绑定 司法局"
ACTING_IN_GROUP = (
    "（本群是{dept}的工作群，您在这里发送的命令按{dept}处理，无需绑定；"
    "在私聊或其他群里使用前，请先发送「绑定 部门名称」。）"
)
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
APPROVED = "已通过{dept}第{n}项，并已通知该部门。"
RETURNED = "已退回{dept}第{n}项，原因已通知该部门。"
NEED_RETURN_REASON = "请写明退回原因，例如：缺少2019年台账。"
NEED_PLACE = "请写上存放位置，例如：纸质 12 2019年执法案卷 存放：档案室3号柜"
SECRET_NEEDS_PLACE = "涉密材料须写明存放位置，以备现场查阅，例如：纸质 {n} {title} 存放：机要室"
SECRET_NO_LINK = (
    "{why}：涉密材料不能提交网址或文件，也不会随邮件报送。"
    "请登记为纸质材料并写明存放位置，例如：纸质 {n} {title} 存放：机要室"
)
BATCH_TOO_MANY = "一次最多处理 {n} 项，本次没有执行。请分几次发送，例如：完成 12-15"
BATCH_BACKWARDS = "「{lo}-{hi}」的范围写反了，本次没有执行。请写成从小到大，例如：完成 {hi}-{lo}"
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


# A reply that concerns a department's items fits one phone screen: about this many lines.
PHONE_LINES = 15
# How much of an indicator's requirement a phone-sized list shows (about one screen line).
PHONE_WIDTH = 16


# ... and about this many bytes: WeCom's text message holds 2048 and bot.render splits a reply
# by the size of its neutral text (a link counts its title and its URL); the rest is room for a
# note the reply may carry, such as ACTING_IN_GROUP.
PHONE_BYTES = 1700


def fits_phone(lines: list[str]) -> bool:
    """Whether these reply lines still leave room on a phone screen (and in one message)."""
    return len("\n".join(lines).encode()) <= PHONE_BYTES


def page_of(items: list, page: int, size: int) -> tuple[list, int]:
    """The items on `page` (from 1) of pages of `size`, and how many pages there are."""
    pages = max(1, -(-len(items) // size))
    return items[(page - 1) * size : page * size], pages


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


def star_changed(n: int, starred: bool) -> str:
    """What 星标 (or the admin pages, or the API) says once the ★ of item `n` changed."""
    if not starred:
        return f"已取消第{n}项的★标记。"
    return (
        f"已将第{n}项标为★整改项：各部门任务中置顶，排名权重加倍；"
        f"各责任单位须先发送「整改 {n} 整改情况」写明整改说明，才能标记完成。"
    )


def review_again(before: Assignment, after: Assignment) -> str:
    """The line an edit adds when it takes back an approval (progress.status_after_edit)."""
    if before.status is Status.APPROVED and after.status is not Status.APPROVED:
        return "本项原已通过审核，修改后需依法治区办重新审核。"
    return ""


def shorten(text: str, n: int = 28) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


KIND_LABELS = {"bonus": "加分项", "deduction": "减分项"}


def indicator_line(
    ind: Indicator, a: Assignment | TaskState, starred: bool, width: int = 28
) -> str:
    label = KIND_LABELS.get(ind.kind) or a.role.label
    return _indicator_line(ind.id, ind.level3, label, a.status, starred, width)


@functools.lru_cache(maxsize=8192)  # a task list is 70-odd of these, mostly unchanged
def _indicator_line(
    ind_id: int, level3: str, label: str, status: Status, starred: bool, width: int
) -> str:
    star = "★" if starred else ""
    return (
        f"{STATUS_ICON[status]} 第{ind_id}项{star}【{label}】{shorten(level3, width)}"
        f"（{status.label}）"
    )


def material_line(i: int, m: Material, ind: Indicator | None = None) -> str:
    """One of our materials as a reply to the department shows it (its own group)."""
    if m.is_secret_in(ind):
        place = f"，存放：{quoted(m.location)}" if m.location else ""
        what = f"「{quoted(m.title)}」" if m.title else ""
        return f"{i}. 🔒{what}（涉密，现场查阅{place}）"
    if m.url:
        return f"{i}. {link(m.name, m.url)}"
    if m.file is not None:
        return f"{i}. 📎{inert(m.name)}（{m.kind_label}，{size_text(m.file.size)}）"
    place = f"，存放：{quoted(m.location)}" if m.location else "，未写存放位置"
    return f"{i}. {inert(m.title)}（纸质{place}）"


def quoted(text: str, n: int = 0) -> str:
    """What someone wrote, quoted back in a message: shortened to `n` characters if given,
    and inert (bot.render.inert)."""
    return inert(shorten(text, n) if n else text)


def progress_counts(assignments: list[Assignment]) -> str:
    done = sum(1 for a in assignments if a.is_complete)
    return f"已完成 {done}/{len(assignments)}"


def month_day(d) -> str:
    return f"{d.month}月{d.day}日"


def event_title(event) -> str:
    """The event's name without its parenthesised remark: 自治区实地查验."""
    return event.name.replace("（", "(").split("(")[0].strip() or event.name


def event_when(timeline, event) -> str:
    """When an event happens, as far as known: 9月15日, or 9月（具体日期待定）."""
    day = timeline.event_date(event)
    if day:
        return month_day(day)
    if event.is_month_window:
        return f"{event.window_start.month}月（具体日期待定）"
    return f"{month_day(event.window_start)}至{month_day(event.window_end)}（具体日期待定）"


def submit_prompt(deadline_day) -> str:
    """The 报送 prompt of a department that has not sent its catalogue while it is still due."""
    return f"尚未报送资料目录（截止 {month_day(deadline_day)}）：材料齐全后发送「报送」"


SUBMIT_PROMPT_LATE = "尚未报送资料目录：材料齐全后发送「报送」。"
RECTIFY_HINT = "★项为需整改项：标记完成前请先发送「整改 编号 整改情况」。"


EXTRA_HINT = (
    "加分项任何部门均可自愿提交材料；减分项发送「声明 编号」作出声明，"
    "第99项（材料真实性）随每次「报送」附承诺。"
)


def bonus_line(bonus: dict[str, list[int]]) -> str:
    """Who has offered bonus evidence (加分项), apart from the ranking."""
    parts = [
        f"{dept}（第{'、'.join(str(i) for i in ids)}项）" for dept, ids in sorted(bonus.items())
    ]
    return "加分项（自愿申报，不计入排名）：" + "、".join(parts)


READY_HINT = "纸质材料不用报送，请整理成册并写明存放位置，以备现场查验。"


def event_line(calendar, timeline, event, today) -> str:
    """An event as the pushes and replies state it: never as a deadline (no 截止, no 逾期)."""
    title, day = event_title(event), timeline.event_date(event)
    if day == today:
        return f"今天是{title}日，请备好纸质材料。"
    if day and day > today:
        left = calendar.workdays_left(today, day)
        return f"{title}定于 {month_day(day)}（还有 {left} 个工作日）。"
    return f"{title}：{event_when(timeline, event)}。"


def rework_note(calendar, today, due: str) -> str:
    """The 返工期限 of a returned item counted down ('返工期限 12月3日，还剩 2 个工作日'), or ""
    without one (or without a calendar to count on)."""
    if not due:
        return ""
    try:
        day = _dt.date.fromisoformat(due)
    except ValueError:
        return ""
    text = f"返工期限 {month_day(day)}"
    if calendar is None or today is None:
        return text
    if day == today:
        return text + "，今天到期"
    if day < today:
        return text + f"，已过期 {(today - day).days} 天"
    return text + f"，还剩 {calendar.workdays_left(today, day)} 个工作日"


def deadline_line(calendar, timeline, now) -> str:
    """Where the campaign stands today, in one line: the countdown to the next deadline
    ('距「资料目录报送」截止（8月19日）还有 4 个工作日。'), after the last deadline the coming
    inspection, and once the campaign is over that it has ended."""
    if calendar is None:
        return ""
    today = calendar.local_today(now)
    phase = timeline.phase(today)
    if phase == ENDED:
        return "本次创建活动已结束，感谢各部门的支持与配合。"
    if phase == RUNNING:
        dl = timeline.next_deadline(today)
        day = month_day(dl.date)
        if dl.date == today:
            return f"今天是「{dl.name}」截止日（{day}）。"
        left = calendar.workdays_left(today, dl.date)
        return f"距「{dl.name}」截止（{day}）还有 {left} 个工作日。"
    event = timeline.next_event(today)
    if event is None:
        return "各项资料报送日期均已过。"
    return event_line(calendar, timeline, event, today) + READY_HINT


# An archived campaign (bot/campaigns.py): read and export only.
ARCHIVED = (
    "「{title}」已归档，只能查看和导出，不能再修改。"
    "如需办理其他督办活动，请在私聊中发送「切换」选择。"
)

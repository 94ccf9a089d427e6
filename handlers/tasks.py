"""我的任务: the department's assignments on one phone screen: counts, returned items first,
then the open ones lead and ★ first, a page at a time."""

from bot import filllinks, texts
from bot.commands import Context, FilterPageParam, command
from bot.messages import Reply
from bot.progress import COMPLETE, Role, Status
from bot.render import with_actions

FILTERS = {"": "open", "未完成": "open", "待办": "open", "全部": "all", "已完成": "done"}

WHICH = FilterPageParam(
    "which",
    tuple(w for w in FILTERS if w),
    "请写「我的任务」「我的任务 全部」「我的任务 已完成」，翻页写「我的任务 第2页」。",
)
FOOTER = "提交材料：提交 编号 网址 名称；详情：查看 编号。"


@command("我的任务", WHICH, aliases=("任务", "待办"), preload="states")
def my_tasks(ctx: Context, which: tuple[str, int]) -> Reply:
    """我的任务 [全部/未完成/已完成] [第N页]：查看本部门负责的指标及状态，一次一页"""
    word, page = which
    mode = FILTERS[word]
    dept = ctx.require_department()
    # Returned items first (they wait on us), then open before complete, lead and ★ first.
    stars, indicators = ctx.preload.star_overrides, ctx.catalog.indicators
    items = sorted(
        ctx.preload.states.values(),
        key=lambda a: (
            a.status is not Status.RETURNED,
            a.status in COMPLETE,
            a.role is not Role.LEAD,
            not stars.get(a.indicator_id, indicators[a.indicator_id].star),  # ctx.starred
            a.indicator_id,
        ),
    )
    # bonus and deduction items are no chores: counted apart, named on the last page
    regular = ctx.catalog.regular_ids
    extra = [a for a in items if a.indicator_id not in regular]
    items = [a for a in items if a.indicator_id in regular]
    complete = [a.status in COMPLETE for a in items]
    shown = [
        a for a, c in zip(items, complete, strict=True) if mode == "all" or (mode == "done") == c
    ]
    done = sum(complete)
    returned = sum(1 for a in items if a.status is Status.RETURNED)
    head = [f"**{dept} · 共 {len(items)} 项，已完成 {done} 项，未完成 {len(items) - done} 项**"]
    head.append(texts.deadline_line(ctx.calendar, ctx.timeline, ctx.now))
    late = ctx.calendar is not None and ctx.timeline.is_late(ctx.calendar.local_today(ctx.now))
    flags = []
    if returned:
        flags.append(f"已退回 {returned} 项，排在最前，请按原因修改")
    if late and done < len(items):
        flags.append(f"已过「{ctx.catalog.campaign.deadlines[0].name}」截止日，未完成的均已逾期")
    if flags:
        head.append("；".join(flags) + "。")
    head = [x for x in head if x]
    # One line is kept for 「还有 N 项」 (or, on the last page, the bonus and deduction items).
    size = texts.PHONE_LINES - len(head) - 2
    on_page, pages = texts.page_of(shown, page, size)
    if page > pages:
        return Reply(f"「我的任务{_word(word)}」共 {pages} 页，没有第 {page} 页。")
    # the flags speak of the first page's order: later pages keep their room but not the line
    lines = list(head) if page == 1 or not flags else head[:-1]
    if not shown:
        lines.append("全部完成，辛苦了！" if mode == "open" else "暂无。")
    today = ctx.calendar.local_today(ctx.now) if ctx.calendar is not None else None
    for a in on_page:
        ind = ctx.catalog.get(a.indicator_id)
        line = "- " + texts.indicator_line(ind, a, ctx.starred(ind), texts.PHONE_WIDTH)
        if a.reason and a.status is Status.RETURNED:
            line += f"退回原因：{texts.quoted(a.reason, 24)}"
        if a.status is Status.RETURNED and a.rework:
            line += f"（{texts.rework_note(ctx.calendar, today, a.rework)}）"
        lines.append(line)
    left = len(shown) - page * size
    page_url = _page_url(ctx)
    if left > 0 and page_url and ctx.msg.is_group:
        # the group's button opens the department's door: the page itself is asked for in private
        lines.append(f"还有 {left} 项：私聊我发送「填报」，在填报页查看和填写")
    elif left > 0 and page_url:
        lines.append(f"还有 {left} 项：请打开下面的填报页查看和填写")
    elif left > 0:
        lines.append(f"还有 {left} 项：发送「我的任务{_word(word)} 第{page + 1}页」")
    elif extra and mode != "done":
        lines.append(_extra_line(ctx, extra))
    if not page_url:
        lines.append(FOOTER)
        return Reply("\n".join(lines))
    # the buttons (a card where the platform has them): the page, and the returned items shown
    firsts = [a.indicator_id for a in on_page if a.status is Status.RETURNED]
    return Reply(with_actions("\n".join(lines), filllinks.buttons(page_url, firsts)))


def _page_url(ctx: Context) -> str:
    """Where the page opens, where a phone can reach it (bot.filllinks.reachable): in a
    one-to-one chat the sender's own link; in a group, which sees every reply, the
    department's door, which tells each person to ask for their own link in private."""
    settings = ctx.services.settings
    if settings is None or not filllinks.reachable(settings.public_url):
        return ""
    if ctx.msg.is_group:
        key = ctx.services.link_key
        return filllinks.door_url(settings.public_url, key, ctx.require_department())
    return filllinks.for_sender(ctx, fresh=False)


def _word(word: str) -> str:
    return f" {word}" if word else ""


def _extra_line(ctx: Context, extra) -> str:
    """The bonus and deduction items in one line: they never count, and say how to answer."""
    marks = " ".join(f"第{a.indicator_id}项{texts.STATUS_ICON[a.status]}" for a in extra)
    return f"加分项、减分项（不计入进度）：{marks}；减分项发送「声明 编号」。"

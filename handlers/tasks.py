"""我的任务: the department's assignments, lead and ★ first, with counts and workdays left."""

from bot import texts
from bot.commands import ChoiceParam, Context, command
from bot.messages import Reply

FILTERS = {"": "open", "未完成": "open", "待办": "open", "全部": "all", "已完成": "done"}


WHICH = ChoiceParam(
    "which", tuple(FILTERS), "请写「我的任务」「我的任务 全部」或「我的任务 已完成」。"
)


@command("我的任务", WHICH, aliases=("任务", "待办"), preload="states")
def my_tasks(ctx: Context, which: str) -> Reply:
    """我的任务 [全部/未完成/已完成]：查看本部门负责的指标及状态"""
    mode = FILTERS[which]
    dept = ctx.require_department()
    items = sorted(
        ctx.preload.states.values(),
        key=lambda a: (
            a.role.value != "lead",
            not ctx.starred(ctx.catalog.get(a.indicator_id)),
            a.indicator_id,
        ),
    )
    # bonus and deduction items are no chores: counted apart, listed last
    regular = ctx.catalog.regular_ids
    extra = [a for a in items if a.indicator_id not in regular]
    items = [a for a in items if a.indicator_id in regular]
    shown = [a for a in items if mode == "all" or (mode == "done") == a.is_complete]
    done = sum(1 for a in items if a.is_complete)
    head = f"**{dept} · 共 {len(items)} 项，已完成 {done} 项，未完成 {len(items) - done} 项**"
    lines = [head, texts.deadline_line(ctx.calendar, ctx.timeline, ctx.now)]
    if not shown:
        lines.append("全部完成，辛苦了！" if mode == "open" else "暂无。")
    for a in shown:
        ind = ctx.catalog.get(a.indicator_id)
        lines.append("- " + texts.indicator_line(ind, a, ctx.starred(ind)))
        if a.reason and a.status.value == "returned":
            lines.append(f"  退回原因：{texts.quoted(a.reason)}")
    if extra and mode != "done":
        lines.append("**加分项、减分项（不计入进度）：**")
        for a in extra:
            ind = ctx.catalog.get(a.indicator_id)
            lines.append("- " + texts.indicator_line(ind, a, ctx.starred(ind)))
        lines.append(texts.EXTRA_HINT)
    lines.append("提交材料：提交 编号 网址 名称；查看详情：查看 编号。")
    return Reply("\n".join(x for x in lines if x))

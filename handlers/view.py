"""查看: one indicator on a phone screen: its text, the units' state (summarised when they are
many) and our materials; 「查看 N 全部」 lists every unit and material."""

from bot import texts
from bot.commands import ChoiceParam, Context, IndicatorParam, command
from bot.messages import Reply
from bot.progress import Status

INLINE_UNITS = 6  # more units than this are counted by status, named with 「查看 N 全部」
MAX_MATERIALS = 5  # materials listed before 「查看 N 全部」
# The order a summary counts the units in: complete ones first, untouched last.
ORDER = (
    Status.APPROVED,
    Status.DONE,
    Status.NOT_APPLICABLE,
    Status.IN_PROGRESS,
    Status.RETURNED,
    Status.TODO,
)

FULL = ChoiceParam(
    "full", ("全部",), "请写「查看 编号」，要看全部责任单位和材料请写「查看 编号 全部」。"
)


@command(
    "查看", IndicatorParam(), FULL, aliases=("指标", "详情"), needs_binding=False, preload="one"
)
def view(ctx: Context, ind, full: str) -> Reply:
    """查看 <编号> [全部]：查看指标全文、考评要点、责任单位进度和本部门材料"""
    star = "★" if ctx.starred(ind) else ""
    kind = {"bonus": "（加分项）", "deduction": "（减分项）"}.get(ind.kind, "")
    lines = [
        f"**第{ind.id}项{star}{kind}** {ind.level1} › {ind.level2}",
        f"要求：{ind.level3}",
        f"考评要点：{ind.evidence or '（无）'}"
        + (f"（与第{ind.evidence_from}项共用）" if ind.evidence_from else ""),
    ]
    if ind.is_secret:
        lines.append(
            f"🔒 涉密：不提交网址，登记为纸质并写明存放位置（纸质 {ind.id} 名称 存放：位置）。"
        )
    units = ctx.services.units_of.get(ind.id, {})
    lead = [d for d, r in units.items() if r.value == "lead"]
    coop = [d for d, r in units.items() if r.value == "cooperate"]
    own = ctx.department if ctx.department and ind.id in ctx.preload.assignments else ""
    view = ctx.store.assignments.indicator_view(ind.id, lead + coop, _urls(ctx, ind), thread=own)
    statuses = view["statuses"]

    every = bool(full)
    lines += _units("牵头", lead, statuses, every, ind.id)
    lines += _units("配合", coop, statuses, every, ind.id)
    if ctx.department and ind.id in ctx.preload.assignments:
        a = ctx.preload.assignments[ind.id]
        lines.append(f"**本部门（{a.role.label}）：{a.status.label}**")
        if a.reason:
            label = "退回原因" if a.status is Status.RETURNED else "原因"
            lines.append(f"{label}：{texts.quoted(a.reason)}")
        if a.status is Status.RETURNED and a.rework:
            today = ctx.calendar.local_today(ctx.now) if ctx.calendar is not None else None
            lines.append(texts.rework_note(ctx.calendar, today, a.rework) + "。")
        shown = 0
        for i, m in enumerate(a.materials, start=1):
            state = view["links"].get(m.url)
            tail = ""
            if state is not None and not state.get("ok"):
                tail = f" ⚠️ 链接无法打开（{texts.link_problem(state)}）"
            line = texts.material_line(i, m, ind) + tail
            # A text message shows every URL in full: long ones fill the screen (and a text
            # message's byte limit) quickly: the list stops at a count or a size, whichever first.
            if not every and (shown == MAX_MATERIALS or not texts.fits_phone([*lines, line])):
                break
            lines.append(line)
            shown += 1
        if shown < len(a.materials):
            more = len(a.materials) - shown
            lines.append(f"还有 {more} 份材料：发送「查看 {ind.id} 全部」")
        if not a.materials:
            lines.append("尚无材料。提交：提交 编号 网址 名称；纸质：纸质 编号 名称。")
        if a.explanation:
            lines.append(f"报送说明：{texts.quoted(a.explanation, 0 if every else 60)}")
        if ctx.starred(ind):
            rectified = texts.quoted(a.rectification) if a.rectification else ""
            lines.append(f"★整改说明：{rectified or f'尚未填写（发送「整改 {ind.id} 整改情况」）'}")
        lines += _thread(ind.id, view["comments"])
    return Reply("\n".join(lines))


SHOWN_COMMENTS = 3  # the latest of the thread with the office; the page holds them all


def _thread(ind_id: int, thread: list[dict]) -> list[str]:
    """The latest of our thread with the office on this item (read with the indicator's view)."""
    if not thread:
        return []
    head = f"**往来留言（共 {len(thread)} 条"
    head += f"，最近 {SHOWN_COMMENTS} 条）：**" if len(thread) > SHOWN_COMMENTS else "）：**"
    lines = [head]
    for c in thread[-SHOWN_COMMENTS:]:
        who = "依法治区办" if c.get("side") == "office" else texts.quoted(c.get("name", ""), 16)
        lines.append(f"- {who}：{texts.quoted(c.get('text', ''), 60)}")
    lines.append(f"回复请发送「留言 {ind_id} 内容」。")
    return lines


def _urls(ctx: Context, ind) -> list[str]:
    a = ctx.preload.assignments.get(ind.id)
    return [m.url for m in a.materials if m.url] if a else []


def _units(role: str, depts: list[str], statuses: dict, every: bool, ind_id: int) -> list[str]:
    """The units of one role: named with their status icons when few, counted by status when
    many (「配合单位 32 个：已完成 3，未开始 29」), grouped by status in 「查看 N 全部」."""
    if not depts:
        return []
    of = {d: statuses.get(d, Status.TODO) for d in depts}
    if len(depts) <= INLINE_UNITS:
        named = "、".join(f"{d}{texts.STATUS_ICON[st]}" for d, st in of.items())
        if role == "牵头":
            return [f"牵头：{named}"]
        done = sum(1 for st in of.values() if st.is_complete)
        return [f"配合（{done}/{len(depts)} 完成）：{named}"]
    groups = {st: [d for d, s in of.items() if s is st] for st in ORDER}
    groups = {st: ds for st, ds in groups.items() if ds}
    counts = "，".join(f"{st.label} {len(ds)}" for st, ds in groups.items())
    head = f"{role}单位 {len(depts)} 个：{counts}"
    if not every:
        return [f"{head}（名单：发送「查看 {ind_id} 全部」）"]
    return [head] + [f"{st.label}（{len(ds)}）：{'、'.join(ds)}" for st, ds in groups.items()]

"""查看: one indicator in full, every unit's status, and our materials."""

from bot import texts
from bot.commands import Context, IndicatorParam, command
from bot.messages import Reply
from bot.progress import Status


@command("查看", IndicatorParam(), aliases=("指标", "详情"), needs_binding=False, preload="one")
def view(ctx: Context, ind) -> Reply:
    """查看 <编号>：查看指标全文、考评要点、责任单位进度和本部门材料"""
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
    units = ctx.services.get("units_of", {}).get(ind.id, {})
    lead = [d for d, r in units.items() if r.value == "lead"]
    coop = [d for d, r in units.items() if r.value == "cooperate"]
    view = ctx.store.indicator_view(ind.id, lead + coop, _urls(ctx, ind))
    statuses = view["statuses"]

    def fmt(depts: list[str]) -> str:
        return "、".join(f"{d}{texts.STATUS_ICON[statuses.get(d, Status.TODO)]}" for d in depts)

    lines.append(f"牵头：{fmt(lead)}")
    if coop:
        done = sum(1 for d in coop if statuses.get(d, Status.TODO).is_complete)
        lines.append(f"配合（{done}/{len(coop)} 完成）：{texts.shorten(fmt(coop), 400)}")
    if ctx.department and ind.id in ctx.preload.assignments:
        a = ctx.preload.assignments[ind.id]
        lines.append(f"**本部门（{a.role.label}）：{a.status.label}**")
        if a.reason:
            label = "退回原因" if a.status is Status.RETURNED else "原因"
            lines.append(f"{label}：{texts.quoted(a.reason)}")
        for i, m in enumerate(a.materials, start=1):
            state = view["links"].get(m.url)
            tail = ""
            if state is not None and not state.get("ok"):
                tail = f" ⚠️ 链接无法打开（{texts.link_problem(state)}）"
            lines.append(texts.material_line(i, m, ind) + tail)
        if not a.materials:
            lines.append("尚无材料。提交：提交 编号 网址 名称；纸质：纸质 编号 名称。")
        if a.explanation:
            lines.append(f"报送说明：{texts.quoted(a.explanation)}")
        if ctx.starred(ind):
            rectified = texts.quoted(a.rectification) if a.rectification else ""
            lines.append(f"★整改说明：{rectified or f'尚未填写（发送「整改 {ind.id} 整改情况」）'}")
    return Reply("\n".join(lines))


def _urls(ctx: Context, ind) -> list[str]:
    a = ctx.preload.assignments.get(ind.id)
    return [m.url for m in a.materials if m.url] if a else []

"""撤销: undo our last change on an indicator."""

import json
from dataclasses import replace

from bot.commands import Context, IndicatorParam, UserError, command
from bot.messages import Reply
from bot.progress import Assignment

ACTIONS = {
    "submit": "提交链接",
    "paper": "登记纸质材料",
    "explain": "填写说明",
    "done": "标记完成",
    "not_applicable": "标记不涉及",
    "delete": "删除材料",
    "place": "写明存放位置",
    "declare": "声明",
    "rectify": "填写整改说明",
}


@command("撤销", IndicatorParam(), preload="one")
def undo(ctx: Context, ind) -> Reply:
    """撤销 <编号>：撤销本部门在该项上的最近一次操作"""
    a, raw = ctx.own(ind)
    top = ctx.preload.undo_top
    if not top:
        raise UserError(f"第{ind.id}项没有可以撤销的操作。")
    entry = json.loads(top)
    if entry.get("admin"):
        raise UserError(
            f"第{ind.id}项的最近一次变更是依法治区办的审核，不能撤销。如有疑问请联系依法治区办。"
        )
    old = Assignment.from_json(ind.id, a.department, entry["before"])
    # The restored state gets a fresh version so the compare-and-set chain only moves forward.
    after = replace(old, updated_by=ctx.actor, updated_at=ctx.now_iso(), version=a.version + 1)
    ctx.commit(a, raw, after, "undo", undo="pop", note=entry.get("action", ""))
    what = ACTIONS.get(entry.get("action", ""), "上一次操作")
    return Reply(
        f"已撤销第{ind.id}项的「{what}」，当前状态：{after.status.label}，材料 {len(after.materials)} 份。"
    )

"""导出: build our 资料目录 workbook and 报送材料说明 in the background; the link follows."""

from bot import texts
from bot.commands import Context, TokenParam, UserError, command
from bot.exports import request_department_export, request_district_export
from bot.messages import Reply
from bot.review import resolve_department

DISTRICT = ("全区", "全部", "汇总")


@command("导出", TokenParam("target"), needs_binding=False)
def export(ctx: Context, target: str) -> Reply:
    """导出：生成本部门资料目录（Excel）和报送材料说明（Word），下载链接稍后发到本群
    管理员可写「导出 部门」导出任一部门，或「导出 全区」生成全区汇总表。"""
    minute = ctx.calendar.local_now(ctx.now).strftime("%Y%m%d%H%M") if ctx.calendar else ""
    enqueue = ctx.services["enqueue"]
    if target in DISTRICT:
        if not ctx.is_admin:
            raise UserError(texts.ADMIN_ONLY.format(cmd="导出 全区"))
        return Reply(request_district_export(enqueue, minute, ctx.now_iso()))
    if target:
        dept = resolve_department(ctx, target)
        if not ctx.is_admin and dept != ctx.department:
            raise UserError(
                f"只能导出本部门（{ctx.require_department()}）的资料目录，请发送「导出」。"
            )
    else:
        dept = ctx.require_department()
    to_office = dept != ctx.department
    where = "依法治区办群" if to_office else ctx.our_group
    said = request_department_export(
        enqueue, dept, minute, ctx.now_iso(), to_office=to_office, where=where
    )
    return Reply(said)

"""导出: build our 资料目录 workbook and 报送材料说明 in the background; the link follows.
「导出 案卷」 builds the binder pack for the September inspection, 「导出 查验清单」 the office's
district checklist."""

from bot import texts
from bot.commands import Context, TokenParam, UserError, WordParam, command
from bot.exports import request_department_export, request_district_export
from bot.messages import Reply
from bot.review import resolve_department

DISTRICT = ("全区", "全部", "汇总")
BINDER = ("案卷", "案卷包", "查验案卷")
CHECKLIST = ("查验清单", "清单")


@command("导出", WordParam("what", BINDER + CHECKLIST), TokenParam("target"), needs_binding=False)
def export(ctx: Context, what: str, target: str) -> Reply:
    """导出：生成本部门资料目录（Excel）和报送材料说明（Word），下载链接稍后发到本群
    「导出 案卷」生成实地查验案卷包（封面、目录、纸质材料卷册页码、链接二维码）。
    管理员可写「导出 部门」「导出 案卷 部门」导出任一部门，「导出 全区」生成全区汇总表，
    「导出 查验清单」生成全区实地查验清单。"""
    minute = ctx.calendar.local_now(ctx.now).strftime("%Y%m%d%H%M") if ctx.calendar else ""
    enqueue = ctx.services.enqueue
    if what in CHECKLIST or (not what and target in DISTRICT):
        if not ctx.is_admin:
            cmd = "导出 查验清单" if what else "导出 全区"
            raise UserError(texts.ADMIN_ONLY.format(cmd=cmd))
        if what and target:  # 「导出 查验清单」 is the whole district's
            raise UserError(texts.EXTRA_TEXT.format(extra=target))
        return Reply(request_district_export(enqueue, minute, ctx.now_iso(), checklist=bool(what)))
    if target:
        dept = resolve_department(ctx, target)
        if not ctx.is_admin and dept != ctx.department:
            again = "导出 案卷" if what else "导出"
            raise UserError(
                f"只能导出本部门（{ctx.require_department()}）的材料，请发送「{again}」。"
            )
    else:
        dept = ctx.require_department()
    to_office = dept != ctx.department
    where = "依法治区办群" if to_office else ctx.our_group
    said = request_department_export(
        enqueue, dept, minute, ctx.now_iso(), to_office=to_office, where=where, binder=bool(what)
    )
    return Reply(said)

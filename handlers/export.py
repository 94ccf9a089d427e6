"""导出: build our 资料目录 workbook and 报送材料说明 in the background; the link follows."""

from bot import texts
from bot.commands import Context, TokenParam, UserError, command
from bot.messages import Reply
from bot.review import resolve_department
from bot.schedule import job_id

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
        rid = job_id("district", minute)
        enqueue(
            "bot.jobs.export_district",
            job_id=job_id("export", rid),
            request_id=rid,
            now_iso=ctx.now_iso(),
        )
        return Reply("正在生成全区资料目录汇总表，稍后下载链接将发到依法治区办群，请稍候。")
    if target:
        dept = resolve_department(ctx, target)
        if not ctx.is_admin and dept != ctx.department:
            raise UserError(
                f"只能导出本部门（{ctx.require_department()}）的资料目录，请发送「导出」。"
            )
    else:
        dept = ctx.require_department()
    to_office = dept != ctx.department
    rid = job_id(dept, minute, "office" if to_office else "dept")
    enqueue(
        "bot.jobs.export_department",
        job_id=job_id("export", rid),
        department=dept,
        request_id=rid,
        now_iso=ctx.now_iso(),
        to_office=to_office,
    )
    where = "依法治区办群" if to_office else ctx.our_group
    return Reply(
        f"正在生成{dept}的资料目录（Excel）和报送材料说明（Word），"
        f"稍后下载链接将发到{where}，请稍候。"
    )

"""报送: formally submit our catalogue as a numbered, timestamped, frozen version.

While items are still open, 报送 first shows how complete the catalogue is and asks for
「报送 确认」: a submission goes to the office's mailbox and cannot be taken back."""

from bot import texts
from bot.commands import Context, UserError, WordParam, command
from bot.messages import Notice, Reply
from bot.schedule import job_id

CONFIRM = "报送 确认"


@command("报送", WordParam("confirmed", ("确认", "确定")), aliases=("提交目录",), preload="all")
def submit_catalog(ctx: Context, confirmed: str) -> Reply:
    """报送：正式报送本部门资料目录和报送材料说明（生成带版本号和时间的定稿）
    还有未完成的指标时先显示完成情况，回复「报送 确认」后才报送。
    每次报送生成新版本，依法治区办以最新版本为准；配置了邮箱时同时发送至指定邮箱。"""
    dept = ctx.require_department()
    items = list(ctx.preload.assignments.values())
    if not items:
        raise UserError(f"{dept}目前没有负责的指标，无需报送。")
    if not any(a.materials or a.explanation for a in items):
        raise UserError(
            "本部门资料目录还是空的，请先提交材料（提交 编号 网址 名称 / 纸质 编号 名称）再报送。"
        )
    regular = ctx.catalog.regular_ids  # bonus and deduction items are no chores
    items = [a for a in items if a.indicator_id in regular] or items
    done = sum(1 for a in items if a.is_complete)
    left = len(items) - done
    settings = ctx.services.settings
    mailed = settings is not None and bool(settings.smtp_url)
    submit_to = ctx.catalog.campaign.submit_to
    if left and not confirmed:
        empty = sum(1 for a in items if not (a.materials or a.explanation or a.is_complete))
        lines = [
            f"{dept}已完成 {done}/{len(items)} 项，还有 {left} 项未完成"
            + (f"（其中 {empty} 项尚未提交材料）" if empty else "")
            + "，仍要报送吗？",
            f"确认报送请回复「{CONFIRM}」；报送后"
            + (
                f"资料目录和报送材料说明将由系统发送至 {submit_to}。"
                if mailed
                else f"需由本部门自行将定稿发送至 {submit_to}。"
            ),
            "也可以先补齐，发送「我的任务 未完成」查看未完成的指标。",
        ]
        return Reply("\n".join(lines))
    local = ctx.calendar.local_now(ctx.now).strftime("%Y-%m-%d %H:%M")
    office = Notice(
        f"📮 {dept}已报送第@VERSION@版资料目录（{local}），已完成 {done}/{len(items)} 项。"
        "定稿文件生成后可在管理后台下载。",
        "",
        (),
        "notice",
    )
    who = (ctx.binding.name if ctx.binding else "") or ctx.msg.user_name or ctx.msg.user_id
    version, at = ctx.store.submissions.submit(dept, ctx.actor, office, who, claim=ctx.claim)
    ctx.services.enqueue(
        "bot.jobs.build_submission",
        job_id=job_id("submission", dept, version),
        department=dept,
        version=version,
        now_iso=at,
    )
    lines = [f"**已报送{dept}资料目录第 {version} 版**（{local}），已完成 {done}/{len(items)} 项。"]
    if mailed:
        lines.append(
            f"资料目录和报送材料说明正由系统通过邮件发送至 {submit_to}，发出后会在{ctx.our_group}告知。"
        )
    else:
        lines.append(
            f"本系统未配置邮件发送，邮件尚未发出：请在定稿下载链接发到{ctx.our_group}后，"
            f"下载两个文件自行发送至 {submit_to}。依法治区办已收到报送通知。"
        )
    lines.append(f"本次报送附真实性承诺（对照第99项），报送人：{texts.quoted(who, 32)}。")
    if left:
        lines.append(f"还有 {left} 项未完成，补齐后可再次报送（版本号递增）。")
    return Reply("\n".join(lines))

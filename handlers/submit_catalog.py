"""报送: formally submit our catalogue as a numbered, timestamped, frozen version."""

from bot import texts
from bot.commands import Context, UserError, command
from bot.messages import Notice, Reply
from bot.schedule import job_id


@command("报送", aliases=("提交目录",), preload="all")
def submit_catalog(ctx: Context) -> Reply:
    """报送：正式报送本部门资料目录和报送材料说明（生成带版本号和时间的定稿）
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
    local = ctx.calendar.local_now(ctx.now).strftime("%Y-%m-%d %H:%M")
    office = Notice(
        f"📮 {dept}已报送第@VERSION@版资料目录（{local}），已完成 {done}/{len(items)} 项。"
        "定稿文件生成后可在管理后台下载。",
        "",
        (),
        "notice",
    )
    who = (ctx.binding.name if ctx.binding else "") or ctx.msg.user_name or ctx.msg.user_id
    version, at = ctx.store.submit_catalog(dept, ctx.actor, office, who, claim=ctx.claim)
    ctx.services["enqueue"](
        "bot.jobs.build_submission",
        job_id=job_id("submission", dept, version),
        department=dept,
        version=version,
        now_iso=at,
    )
    settings = ctx.services.get("settings")
    campaign = ctx.catalog.campaign
    lines = [f"**已报送{dept}资料目录第 {version} 版**（{local}）。"]
    if settings is not None and settings.smtp_url:
        lines.append(f"资料目录和报送材料说明将通过邮件发送至 {campaign.submit_to}。")
    else:
        lines.append(
            f"依法治区办已收到通知，可在管理后台下载定稿（报送邮箱：{campaign.submit_to}）。"
        )
    lines.append(f"定稿文件生成后，下载链接会发到{ctx.our_group}。")
    lines.append(f"本次报送附真实性承诺（对照第99项），报送人：{texts.quoted(who, 32)}。")
    if done < len(items):
        lines.append(f"注意：还有 {len(items) - done} 项未完成，补齐后可再次报送（版本号递增）。")
    return Reply("\n".join(lines))

"""归档 (or a bare number while a file is held): the file or picture the sender just sent goes
under that item, by the rules of 提交 (the department's own item, audited, once)."""

from bot import chatfiles, rules, texts
from bot.chatfiles import Held
from bot.commands import Context, IndicatorParam, command
from bot.errors import UserError
from bot.messages import Reply

NOTHING_HELD = "没有等待归档的文件。请先把文件或照片发给我，再回复指标编号（如 12）。"


@command(chatfiles.KEYWORD, IndicatorParam(), preload="one")
def file_in(ctx: Context, ind) -> Reply:
    """归档 <编号>：把刚发来的文件或照片归入该项（发完文件直接回复编号即可）
    例：先发送「执法案卷评查报告.pdf」，再回复 12"""
    platform, user = ctx.msg.platform, ctx.msg.user_id
    raw = ctx.store.held_files.get(platform, user)
    if not raw:
        raise UserError(NOTHING_HELD)
    held = Held.from_json(raw)
    if held.state == "downloading":
        raise UserError(f"{held.said}还在接收中，请稍等几秒再回复「{ind.id}」。")
    if held.state == "refused" or held.file is None:
        ctx.store.held_files.drop(platform, user, raw)
        raise UserError(held.why or NOTHING_HELD)
    a, a_raw = ctx.own(ind)
    who = ctx.binding.name or ctx.msg.user_name or user
    edit = rules.add_file(a, ind, held.file, held.location, who=who, by=ctx.actor, at=ctx.now_iso())
    ctx.apply(a, a_raw, edit)
    ctx.after_save.append(lambda: ctx.store.held_files.drop(platform, user, raw))
    after = edit.after
    name = texts.quoted(held.file.name, 40)
    lines = [
        f"已将文件「{name}」归入第{ind.id}项，本项现有材料 {len(after.materials)} 份"
        f"（{after.status.label}）。"
    ]
    if not after.is_complete:
        lines.append(f"材料齐全后请发送「完成 {ind.id}」。")
    lines.append(texts.review_again(a, after))
    return Reply("\n".join(x for x in lines if x))

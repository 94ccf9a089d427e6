"""A file or picture sent to the bot: held for its sender, downloaded by a worker (never while
the callback waits), then filed by the sender's next item number (handlers/file_in.py)."""

import hashlib

from bot import chatfiles
from bot.chatfiles import Attachment, Held
from bot.commands import Context, command
from bot.errors import UserError
from bot.messages import Reply

FETCH_JOB = "bot.jobs.fetch_chat_file"
NO_FILE = "请直接把文件或照片发给我（群里请 @我），再回复指标编号（如 12）归入该项。"


@command(chatfiles.RECEIVE, preload="none")
def receive_file(ctx: Context) -> Reply:
    """收文件：直接发送文件或照片，再回复指标编号（如 12），即归入该项
    可接收 PDF、OFD、Word、Excel、PPT 和图片；文件保留 10 分钟等待编号。"""
    if not ctx.msg.attachment:
        raise UserError(NO_FILE)
    ctx.require_department()
    att = Attachment.from_json(ctx.msg.attachment)
    msg_id = ctx.msg.message_id or f"local-{ctx.now_iso()}"
    held = Held(msg_id, "downloading", att.said)
    ctx.store.held_files.hold(ctx.msg.platform, ctx.msg.user_id, held.to_json(), chatfiles.HOLD_S)
    ctx.services.enqueue(
        FETCH_JOB,
        ctx.msg.platform,
        ctx.msg.user_id,
        msg_id,
        att.to_json(),
        ctx.department,
        job_id=f"chatfile-{hashlib.sha256(f'{ctx.msg.platform}|{msg_id}'.encode()).hexdigest()[:24]}",
        retries=0,  # the job tries the platform again itself, then tells the sender
    )
    return Reply(chatfiles.received_text(att.said))

"""/sandbox (demo mode only): talk to the bot as any person of the shipped org, and see the
outbox of everything that would have been pushed to each chat. No platform account needed.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, jsonify, render_template, request

from bot.messages import Incoming, mention_parts
from bot.runtime import SANDBOX
from bot.web.common import check_csrf, install, local_time, runtime, secure_headers
from bot.web.markup import render_markdown

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox", template_folder="templates")

PLATFORM = SANDBOX  # who acts as the office here is decided by bot.runtime, never the browser
MAX_TEXT = 2000
OUTBOX_SHOWN = 200

KIND_LABELS = {
    "notice": "通知",
    "reminder": "提醒",
    "escalation": "督促",
    "ranking": "排名",
    "review": "审核",
    "binding": "绑定",
}


@bp.record_once
def _setup(state) -> None:
    install(state.app)


@bp.before_request
def _guard():
    if not runtime().settings.demo:
        abort(404, description="演示沙盒仅在演示模式（DUBAN_DEMO=1）下开放。")
    check_csrf()


bp.after_request(secure_headers)


def people() -> list[dict]:
    """The people to pick: each campaign's members, its office's admins, then anyone bound
    there (a deployment of several campaigns names the campaign beside the department)."""
    rt = runtime()
    views = [rt.for_campaign(cid) for cid in rt.campaign_ids()]
    out = []
    listed = set()
    for view in views:
        where = f" · {view.title}" if len(views) > 1 else ""
        for m in view.org.members:
            if m.platform == PLATFORM and m.user_id not in listed:
                listed.add(m.user_id)
                role = "联络员" if m.role == "liaison" else "成员"
                out.append(
                    {
                        "user_id": m.user_id,
                        "name": m.name or m.user_id,
                        "department": f"{m.department}{role}{where}",
                        "admin": False,
                    }
                )
        for platform, uid in sorted(view.org.admins):
            if platform == PLATFORM and uid not in listed:
                listed.add(uid)
                out.append(
                    {"user_id": uid, "name": "依法治区办管理员", "department": where.strip(" ·"),
                     "admin": True}
                )  # fmt: skip
        for b in sorted(view.store.bindings.all(), key=lambda b: (b.department, b.user_id)):
            if b.platform == PLATFORM and b.user_id not in listed:
                listed.add(b.user_id)
                out.append(
                    {
                        "user_id": b.user_id,
                        "name": b.name or b.user_id,
                        "department": f"{b.department}{where}",
                        "admin": False,
                    }
                )
    return out


@bp.get("")
@bp.get("/")
def page():
    return render_template("sandbox.html", people=people())


@bp.post("/send")
def send():
    rt = runtime()
    data = request.get_json(silent=True) or request.form
    user_id = str(data.get("user_id", "")).strip()
    text = str(data.get("text", ""))
    if not user_id or len(user_id) > 64 or not user_id.isprintable():
        return jsonify({"error": "请先选择或填写一个用户 ID（不超过 64 个字符）。"}), 400
    if not text.strip():
        return jsonify({"error": "请输入消息内容。"}), 400
    if len(text) > MAX_TEXT:
        return jsonify({"error": f"消息过长，请控制在 {MAX_TEXT} 字以内。"}), 400
    person = next((p for p in people() if p["user_id"] == user_id), None)
    reply = rt.dispatcher.handle(
        Incoming(
            platform=PLATFORM,
            user_id=user_id,
            text=text,
            mentioned=True,
            message_id=f"sandbox-{secrets.token_hex(8)}",
            user_name=str(data.get("name", "")).strip()[:32] or (person or {}).get("name", ""),
        )
    )
    return jsonify(
        {
            "silent": reply.silent,
            "text": reply.text,
            "html": str(render_markdown(reply.text)),
            "mentions": list(reply.mentions),
        }
    )


@bp.get("/outbox")
def outbox():
    """The newest notices, grouped by chat: each department's group, "" = the office's group."""
    rt = runtime()
    groups: dict[tuple[str, str], dict] = {}
    views = [rt.for_campaign(cid) for cid in rt.campaign_ids()]
    latest = sorted(
        ((entry_id, notice, at, view) for view in views
         for entry_id, notice, at in view.store.outbox.latest(OUTBOX_SHOWN)),
        key=lambda row: row[2], reverse=True,
    )[:OUTBOX_SHOWN]  # fmt: skip
    for entry_id, notice, at, view in latest:
        where = f"（{view.title}）" if len(views) > 1 else ""
        g = groups.get((view.campaign_id, notice.department))
        if g is None:
            g = groups[(view.campaign_id, notice.department)] = {
                "department": notice.department,
                "label": (
                    f"{notice.department}群" if notice.department else "依法治区办（办公室群）"
                )
                + where,
                "items": [],
            }
        g["items"].append(
            {
                "id": entry_id,
                "at": at,
                "local_time": local_time(at),
                "kind": notice.kind,
                "kind_label": KIND_LABELS.get(notice.kind, notice.kind),
                "html": str(render_markdown(notice.text)),
                "mentions": [mention_parts(m)[1] for m in notice.mentions],
            }
        )
    return jsonify(
        {
            "groups": list(groups.values()),
            "latest": next((g["items"][0]["id"] for g in groups.values()), ""),
        }
    )

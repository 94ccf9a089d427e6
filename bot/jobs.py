"""RQ entry points: thin functions with primitive arguments that call the services.

Each builds the runtime once per process from DUBAN_* settings. A job that acts inside one
campaign takes its id (`campaign`, "" = the default one) and runs in that campaign's view of the
runtime; one whose campaign is gone (its folder removed) or archived (no scheduled pushes)
does nothing and says why. `now_iso` (an ISO instant) is
the job's clock: the scheduler passes the slot's time and handlers their own, so a job computes
"today", deadlines and audit times the same way whenever a worker gets to it. Jobs are
idempotent: deterministic ids at enqueue time, sent-markers in the store.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

from bot import bindings, exports, linkcheck, reminders
from bot.config import Settings
from bot.messages import Notice
from bot.runtime import Runtime, build_runtime
from bot.schedule import job_id
from bot.store import RedisStore

log = logging.getLogger(__name__)

_RUNTIMES: dict[Settings, Runtime] = {}


def runtime() -> Runtime:
    """This process's runtime for the current settings (built on first use)."""
    settings = Settings.from_env()
    rt = _RUNTIMES.get(settings)
    if rt is None:
        rt = _RUNTIMES[settings] = build_runtime(settings)
    return rt


class NoCampaign(LookupError):
    """A job for a campaign this deployment no longer has (its folder was removed)."""


def view(campaign: str = "") -> Runtime:
    """The runtime of `campaign` ("" = the default one)."""
    rt = runtime()
    found = rt.for_campaign(campaign or rt.settings.campaign)
    if found is None:
        raise NoCampaign(campaign)
    return found


def _at(now_iso: str, campaign: str = "") -> tuple[Runtime, datetime]:
    """The campaign's runtime with its store's clock fixed at `now_iso` ("" = now, by the clock
    every process shares: DUBAN_FAKE_NOW / DUBAN_CLOCK_SPEED when set)."""
    rt = view(campaign)
    if now_iso:
        now = datetime.fromisoformat(now_iso.replace("Z", "+00:00"))
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
    else:
        now = rt.store.clock()
    store = RedisStore(rt.redis, rt.settings.key_prefix, clock=lambda: now,
                       campaign=rt.store.keys.campaign)  # fmt: skip
    return replace(rt, store=store), now


def _skipped(campaign: str, scheduled: bool = True) -> dict | None:
    """Why a job of `campaign` does nothing: gone, or (for a scheduled push) archived."""
    try:
        rt = view(campaign)
    except NoCampaign:
        log.warning("job for campaign %r, which this deployment does not have", campaign)
        return {"skipped": f"unknown campaign {campaign!r}"}
    if scheduled and rt.is_archived:
        return {"skipped": f"campaign {rt.campaign_id!r} is archived"}
    return None


# --- scheduled (slot, now_iso) ---------------------------------------------------------------


def _pushed(rt: Runtime, result: reminders.RunResult) -> dict:
    """What a push job queued goes out now, not at the next minute's sweep of the outbox."""
    if result.queued:
        from bot import delivery

        delivery.request_drain(rt.store, rt.services.enqueue)
    return result.as_dict()


def send_reminders(
    slot: str, now_iso: str = "", department: str = "", departments: list[str] | None = None,
    campaign: str = "",
) -> dict:  # fmt: skip
    """`department` or `departments` (the office's 催办 minus those still cooling down); neither:
    every department."""
    if skipped := _skipped(campaign):
        return skipped
    rt, now = _at(now_iso, campaign)
    depts = [department] if department else (list(departments) if departments else None)
    # "now-…" slots are the office's 催办: they push whatever the day, not on the weekly cadence
    on_demand = slot.startswith("now-")
    return _pushed(rt, reminders.send_reminders(rt, now, slot, depts, on_demand))


def send_escalations(slot: str, now_iso: str = "", campaign: str = "") -> dict:
    if skipped := _skipped(campaign):
        return skipped
    rt, now = _at(now_iso, campaign)
    return _pushed(rt, reminders.send_escalations(rt, now, slot))


def send_ranking(slot: str, now_iso: str = "", campaign: str = "") -> dict:
    if skipped := _skipped(campaign):
        return skipped
    rt, now = _at(now_iso, campaign)
    return _pushed(rt, reminders.send_ranking(rt, now, slot))


def drain_inbox(slot: str = "", now_iso: str = "") -> dict:
    """Answer the callbacks the web side accepted (bot/inbox.py); scheduled every minute as a
    safety net, and enqueued by the first callback of a burst."""
    from bot import inbox

    rt = runtime()
    return inbox.drain_inbox(rt, rt.delivery)


def send_folded_bindings(slot: str = "", now_iso: str = "", campaign: str = "") -> dict:
    """The summaries of binding notices folded while one person kept changing (bot.bindings)."""
    if skipped := _skipped(campaign, scheduled=False):
        return skipped
    return bindings.send_folded(view(campaign))


def check_links(slot: str = "", now_iso: str = "", limit: int = 20, campaign: str = "") -> dict:
    if skipped := _skipped(campaign):
        return skipped
    rt, now = _at(now_iso, campaign)
    return linkcheck.check_queued_links(rt, now, limit)


# --- on request --------------------------------------------------------------------------------


def back_up(slot: str = "", now_iso: str = "") -> dict:
    """The daily backup (bot/backup.py), named by the real local time: a fake campaign clock
    must not name, or prune, the files of real days."""
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from bot import backup

    rt = runtime()
    s = rt.settings
    directory = Path(s.backup_dir or Path(s.data_dir) / "backups")
    now = datetime.now(ZoneInfo(s.tz))
    files = rt.services.files
    return backup.scheduled_backup(rt.store, directory, s.backup_keep, now, files)


def export_department(
    department: str, request_id: str, now_iso: str = "", to_office: bool = False,
    campaign: str = "",
) -> dict:  # fmt: skip
    rt, now = _at(now_iso, campaign)
    return exports.export_department(rt, now, department, request_id, to_office)


def export_district(request_id: str, now_iso: str = "", campaign: str = "") -> dict:
    rt, now = _at(now_iso, campaign)
    return exports.export_district(rt, now, request_id)


def export_binder(
    department: str, request_id: str, now_iso: str = "", to_office: bool = False,
    campaign: str = "",
) -> dict:  # fmt: skip
    rt, now = _at(now_iso, campaign)
    return exports.export_binder(rt, now, department, request_id, to_office)


def export_checklist(request_id: str, now_iso: str = "", campaign: str = "") -> dict:
    rt, now = _at(now_iso, campaign)
    return exports.export_checklist(rt, now, request_id)


def build_submission(department: str, version: int, now_iso: str = "", campaign: str = "") -> dict:
    """Files of a submission; then, when mail is configured, its own (retried) mail job."""
    rt, now = _at(now_iso, campaign)
    out = exports.build_submission(rt, now, department, version)
    if rt.settings.smtp_url and out.get("tokens"):
        out["mail_job"] = rt.services.enqueue(
            "bot.jobs.mail_submission",
            job_id=job_id("mail", department, version),
            department=department,
            version=version,
            now_iso=now_iso,
        )
    return out


def mail_submission(department: str, version: int, now_iso: str = "", campaign: str = "") -> dict:
    rt, now = _at(now_iso, campaign)
    return exports.mail_submission(rt, now, department, version)


# --- failures ------------------------------------------------------------------------------------

JOB_LABELS = {
    "bot.jobs.send_reminders": "每日催办提醒",
    "bot.jobs.send_escalations": "逾期督办日报",
    "bot.jobs.send_ranking": "进度排名推送",
    "bot.jobs.check_links": "链接检查",
    "bot.jobs.send_folded_bindings": "绑定变更汇总通知",
    "bot.jobs.export_department": "部门资料目录导出",
    "bot.jobs.export_district": "全区汇总表导出",
    "bot.jobs.export_binder": "部门查验案卷包导出",
    "bot.jobs.export_checklist": "全区查验清单导出",
    "bot.jobs.build_submission": "报送材料定稿",
    "bot.jobs.mail_submission": "报送材料邮件发送",
    "bot.jobs.drain_inbox": "回复钉钉、飞书群消息",
}


def report_failure(job, connection, exc_type, exc_value, tb) -> None:
    """RQ on_failure callback (bot.queue sets it on every job): once the last retry has failed,
    the office is told, once per job id. The exception text stays in the logs and RQ's failed
    registry; it is never posted to a chat."""
    if job.retries_left:  # RQ will try again
        return
    label = JOB_LABELS.get(job.func_name, job.func_name)
    kw = job.kwargs or {}
    about = "".join(
        f"（{kw[k]}）" if k == "department" else f"（第{kw[k]}版）"
        for k in ("department", "version")
        if kw.get(k)
    )
    log.error("job %s (%s) failed for good: %s", job.id, job.func_name, exc_type.__name__)
    text = (
        f"⚠️ 后台任务「{label}」{about}多次重试后仍失败，已停止重试。\n"
        f"任务编号：{job.id}。请在管理后台「失败任务」中查看原因并重新执行。"
    )
    if job.func_name == "bot.jobs.mail_submission":
        text += "\n报送材料已保存，不会丢失，可在管理后台下载后手动发送。"
    try:
        rt = view(kw.get("campaign", ""))  # told in the campaign the job acted in
        if job.func_name == "bot.jobs.mail_submission" and kw.get("department"):
            rt.store.submissions.update_files(
                kw["department"],
                int(kw["version"]),
                {"mail": "failed", "mail_error": exc_type.__name__},
                "system:mail",
                "submission_mail_failed",
            )
        rt.store.outbox.add_once([(f"failed:{job.id}", Notice(text, "", (), "notice"))])
    except Exception:
        log.exception("could not report the failure of job %s", job.id)


# --- files sent in chat (bot/chatfiles.py) ---------------------------------------------------

FETCH_TRIES = 3  # a platform's file URL lives minutes: a few quick tries, then the sender is told


def fetch_chat_file(
    platform: str, user_id: str, message_id: str, attachment: str, department: str,
    campaign: str = "",
) -> dict:  # fmt: skip
    """Download a file or picture sent in chat, check and store it, and mark it held for its
    sender's number ("stored"), or "refused" with the reason told in the department's chat.
    Idempotent: only the hold of this message, still downloading, is changed."""
    import time as _time
    from zoneinfo import ZoneInfo

    from bot import chatfiles, delivery, filefetch, filestore
    from bot.messages import mention
    from bot.progress import size_text

    rt = view(campaign)
    raw = rt.store.held_files.get(platform, user_id)
    held = chatfiles.Held.from_json(raw) if raw else None
    if held is None or held.message_id != message_id or held.state != "downloading":
        return {"skipped": held.state if held else "gone"}
    att = chatfiles.Attachment.from_json(attachment)
    files, limit = rt.services.files, rt.settings.file_max_bytes
    ctx = rt.delivery
    why, new = "", None
    try:
        got = None
        for attempt in range(FETCH_TRIES):
            try:
                got = filefetch.fetch(att, rt.settings, ctx.http, limit, _tokens(ctx))
                break
            except filefetch.FetchFailed as e:
                if isinstance(e, filefetch.StaleToken):  # the next try fetches a new one
                    rt.store.delivery.drop_token(e.family, e.token)
                if attempt == FETCH_TRIES - 1:
                    raise
                _time.sleep(1 + 2 * attempt)
        kind = filestore.sniff(got.data) or "pdf"
        name = got.name
        if not name and att.kind == "image":
            local = datetime.now(ZoneInfo(rt.settings.tz)).strftime("%Y-%m-%d %H.%M")
            name = chatfiles.image_name(kind, local)
        f = filestore.accept(got.data, name or chatfiles.unnamed_file(kind), limit)
        files.put(got.data, f)
        new = chatfiles.Held(message_id, "stored", held.said, f, files.location(f.sha256))
    except filestore.FileRefused as e:
        why = f"{e}（发送的{held.said}未保存。）"
    except filefetch.TooLarge:
        why = f"{held.said}超过了 {size_text(limit)} 的上限，未保存。请压缩或拆分后再发送。"
    except (filefetch.FetchFailed, delivery.DeliveryRetry) as e:
        log.warning("file sent on %s not fetched: %s", platform, e)
        why = f"{held.said}未能接收（平台没有提供文件），请重新发送，或在填报页上传。"
    notices = ()
    if new is None:
        new = chatfiles.Held(message_id, "refused", held.said, why=why)
        who = (mention(platform, user_id),)
        notices = (Notice(why, department, mentions=who, kind="review"),)
    changed = rt.store.held_files.update(platform, user_id, raw, new.to_json(), notices)
    if changed and notices:
        delivery.request_drain(rt.store, rt.services.enqueue)
    return {"state": new.state, "changed": changed}


def _tokens(ctx):
    """The access token of a platform family, for downloads (cached as delivery caches them)."""
    from bot import delivery, filefetch
    from bot.platforms.base import TokenUnavailable
    from bot.platforms.dingtalk.outbound import access_token as dingtalk_access_token
    from bot.platforms.feishu.sender import tenant_token

    def token(family: str) -> str:
        app_token = {"dingtalk": dingtalk_access_token, "feishu": tenant_token}.get(family)
        if app_token is not None:
            try:
                return app_token(delivery.Wire(ctx))
            except TokenUnavailable as e:
                raise delivery.DeliveryRetry(str(e)) from None
        s = ctx.settings
        if not s.wecom_app_secret:
            raise filefetch.FetchFailed("DUBAN_WECOM_APP_SECRET is not set")

        def fetch() -> tuple[str, int]:
            url = f"{s.wecom_api_base.rstrip('/')}/cgi-bin/gettoken"
            try:
                resp = ctx.http.get(
                    url,
                    params={"corpid": s.wecom_corp_id, "corpsecret": s.wecom_app_secret},
                    timeout=filefetch.TIMEOUT,
                )
                data = resp.json()
            except Exception as e:  # requests or JSON: no token this time
                raise filefetch.FetchFailed(f"gettoken: {type(e).__name__}") from None
            token, expires = data.get("access_token"), data.get("expires_in")
            if data.get("errcode", 0) != 0 or not isinstance(token, str) or not expires:
                raise filefetch.FetchFailed(f"gettoken: errcode {data.get('errcode')}")
            return token, int(expires) - 300

        return delivery.cached_token(ctx, "wecom_app", fetch)

    return token

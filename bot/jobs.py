"""RQ entry points: thin functions with primitive arguments that call the services.

Each builds the runtime once per process from DUBAN_* settings. `now_iso` (an ISO instant) is
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


def _at(now_iso: str) -> tuple[Runtime, datetime]:
    """The runtime with its store's clock fixed at `now_iso` ("" = now, by the clock every
    process shares: DUBAN_FAKE_NOW / DUBAN_CLOCK_SPEED when set)."""
    rt = runtime()
    if now_iso:
        now = datetime.fromisoformat(now_iso.replace("Z", "+00:00"))
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
    else:
        now = rt.store.clock()
    store = RedisStore(rt.redis, rt.settings.key_prefix, clock=lambda: now)
    return replace(rt, store=store), now


# --- scheduled (slot, now_iso) ---------------------------------------------------------------


def _pushed(rt: Runtime, result: reminders.RunResult) -> dict:
    """What a push job queued goes out now, not at the next minute's sweep of the outbox."""
    if result.queued:
        from bot import delivery

        delivery.request_drain(rt.store, rt.services["enqueue"])
    return result.as_dict()


def send_reminders(
    slot: str, now_iso: str = "", department: str = "", departments: list[str] | None = None
) -> dict:
    """`department` or `departments` (the office's 催办 minus those still cooling down); neither:
    every department."""
    rt, now = _at(now_iso)
    depts = [department] if department else (list(departments) if departments else None)
    # "now-…" slots are the office's 催办: they push whatever the day, not on the weekly cadence
    on_demand = slot.startswith("now-")
    return _pushed(rt, reminders.send_reminders(rt, now, slot, depts, on_demand))


def send_escalations(slot: str, now_iso: str = "") -> dict:
    rt, now = _at(now_iso)
    return _pushed(rt, reminders.send_escalations(rt, now, slot))


def send_ranking(slot: str, now_iso: str = "") -> dict:
    rt, now = _at(now_iso)
    return _pushed(rt, reminders.send_ranking(rt, now, slot))


def drain_inbox(slot: str = "", now_iso: str = "") -> dict:
    """Answer the callbacks the web side accepted (bot/inbox.py); scheduled every minute as a
    safety net, and enqueued by the first callback of a burst."""
    from bot import delivery, inbox

    return inbox.drain_inbox(runtime(), delivery.context())


def send_folded_bindings(slot: str = "", now_iso: str = "") -> dict:
    """The summaries of binding notices folded while one person kept changing (bot.bindings)."""
    return bindings.send_folded(runtime())


def check_links(slot: str = "", now_iso: str = "", limit: int = 20) -> dict:
    rt, now = _at(now_iso)
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
    return backup.scheduled_backup(rt.store, directory, s.backup_keep, now)


def export_department(
    department: str, request_id: str, now_iso: str = "", to_office: bool = False
) -> dict:
    rt, now = _at(now_iso)
    return exports.export_department(rt, now, department, request_id, to_office)


def export_district(request_id: str, now_iso: str = "") -> dict:
    rt, now = _at(now_iso)
    return exports.export_district(rt, now, request_id)


def export_binder(
    department: str, request_id: str, now_iso: str = "", to_office: bool = False
) -> dict:
    rt, now = _at(now_iso)
    return exports.export_binder(rt, now, department, request_id, to_office)


def export_checklist(request_id: str, now_iso: str = "") -> dict:
    rt, now = _at(now_iso)
    return exports.export_checklist(rt, now, request_id)


def build_submission(department: str, version: int, now_iso: str = "") -> dict:
    """Files of a submission; then, when mail is configured, its own (retried) mail job."""
    rt, now = _at(now_iso)
    out = exports.build_submission(rt, now, department, version)
    if rt.settings.smtp_url and out.get("tokens"):
        out["mail_job"] = rt.services["enqueue"](
            "bot.jobs.mail_submission",
            job_id=job_id("mail", department, version),
            department=department,
            version=version,
            now_iso=now_iso,
        )
    return out


def mail_submission(department: str, version: int, now_iso: str = "") -> dict:
    rt, now = _at(now_iso)
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
        rt = runtime()
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

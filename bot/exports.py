"""Exports and submissions (the 资料目录 and 报送材料说明 the notice asks for): build the files with bot.reports from the store's
state, keep them in the store for download, post the links, and mail submissions.

Services: no RQ here; the jobs in bot.jobs call these with a runtime and an instant.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from urllib.parse import quote

from bot import binder
from bot.config import SmtpConfig
from bot.messages import Notice
from bot.progress import Assignment, starred_ids
from bot.reports import (
    AUTHENTICITY,
    DOCX_MIME,
    XLSX_MIME,
    CatalogRow,
    Sender,
    actor_label,
    department_workbook,
    district_workbook,
    explanation_document,
    has_content,
    paper_statement,
)
from bot.schedule import job_id

EXPORT_TTL = 7 * 86400  # on-demand exports stay downloadable for a week
KEEP = 0  # submissions are kept


def download_url(settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/exports/{token}"


def _stamp(rt, now: datetime) -> str:
    return rt.calendar.local_now(now).strftime("%Y%m%d-%H%M")


def catalog_rows(
    catalog,
    assignments: dict[int, Assignment],
    names: dict[str, str] | None = None,
    starred: frozenset[int] = frozenset(),
    titles: dict[str, str] | None = None,
) -> list[CatalogRow]:
    """The workbook rows; `names` (actor -> person, see actor_names) names who changed each;
    `starred`: the ★ indicators (the catalogue's marks with the office's toggles); `titles`
    (see page_titles): the fetched page title of a link that has no name of its own."""
    names, titles = names or {}, titles or {}
    return [
        CatalogRow(
            catalog.indicators[i], _named(a, titles), names.get(a.updated_by, ""), i in starred
        )
        for i, a in sorted(assignments.items())
        if i in catalog.indicators
    ]


def _named(a: Assignment, titles: dict[str, str]) -> Assignment:
    if not any(m.url in titles and not m.title for m in a.materials):
        return a
    materials = tuple(
        replace(m, title=titles[m.url]) if m.url in titles and not m.title else m
        for m in a.materials
    )
    return replace(a, materials=materials)


def page_titles(rt, assignments) -> dict[str, str]:
    """url -> page title the link check fetched, for the links that have no name: a snapshot
    frozen before the check named them gets the same name as chat shows now (the check writes
    the title into the material, bot.linkcheck.fill_titles); a link without a fetched title is
    named by its host and path (Material.name)."""
    nameless = [m.url for a in assignments.values() for m in a.materials if m.url and not m.title]
    if not nameless:
        return {}
    states = rt.store.links.states(nameless)
    return {u: s["title"] for u, s in states.items() if s.get("title")}


def actor_names(rt) -> dict[str, str]:
    """actor ("platform:user id") -> the person's name, from org.yaml and the bindings."""
    people = (*rt.org.members, *rt.store.bindings.all())
    return {f"{p.platform}:{p.user_id}": p.name for p in people if p.name}


def sender_name(rt, sub: dict) -> str:
    """Who sent a submission: the name stored with it, else the person behind its actor."""
    return (
        sub.get("name")
        or actor_names(rt).get(sub.get("actor", ""), "")
        or actor_label(sub.get("actor", ""))
    )


def department_files(
    rt,
    department: str,
    assignments: dict[int, Assignment],
    now: datetime,
    suffix: str,
    *,
    stars: dict[int, bool] | None = None,
    sender: Sender | None = None,
) -> list[tuple[str, bytes, str]]:
    """[(file name, bytes, kind)] of the 资料目录 workbook and the 报送材料说明 document.

    `stars`: the office's ★ toggles to apply (the store's current ones when None); `sender`:
    the files of a 报送, which carry who sent it and the authenticity statement.
    """
    overrides = rt.store.assignments.star_overrides() if stars is None else stars
    starred = starred_ids(rt.catalog, overrides)
    titles = page_titles(rt, assignments)
    rows = catalog_rows(rt.catalog, assignments, actor_names(rt), starred, titles)
    campaign, tz = rt.catalog.campaign, rt.settings.tz
    return [
        (
            f"{department}_资料目录_{suffix}.xlsx",
            department_workbook(
                campaign, department, rows, now, tz=tz, starred=starred, sender=sender
            ),
            "xlsx",
        ),
        (
            f"{department}_报送材料说明_{suffix}.docx",
            explanation_document(campaign, department, rows, now, tz=tz, sender=sender),
            "docx",
        ),
    ]


def _links_text(rt, stored: list[tuple[str, str]]) -> list[str]:
    return [f"- [{name}]({download_url(rt.settings, token)})" for name, token in stored]


def export_department(
    rt, now: datetime, department: str, request_id: str, to_office: bool = False
) -> dict:
    """Build a department's files, store them for a week and post the download links to the
    department (or to the office when an admin asked for another department)."""
    if department not in rt.org.departments:
        return {"queued": 0, "reason": f"unknown department {department!r}"}
    assignments = rt.store.assignments.of_department(department)
    stored = []
    for name, data, kind in department_files(rt, department, assignments, now, _stamp(rt, now)):
        token = rt.store.exports.put(name, data, EXPORT_TTL, department=department, kind=kind)
        stored.append((name, token))
    text = "\n".join(
        [
            f"**📎 {department}资料目录已生成**",
            *_links_text(rt, stored),
            "链接 7 天内有效；如需正式报送，请发送「报送」。",
        ]
    )
    target = "" if to_office else department
    queued = rt.store.outbox.add_once([(f"export:{request_id}", Notice(text, target))])
    return {"queued": queued, "tokens": [t for _, t in stored]}


def export_district(rt, now: datetime, request_id: str) -> dict:
    """The office's district workbook (matrix plus every department's sheet), linked to the
    office's chat."""
    departments = rt.assigned_departments()
    assignments = rt.store.assignments.of_departments(departments)
    data = district_workbook(
        rt.catalog.campaign, rt.catalog, departments, assignments, now,
        tz=rt.settings.tz, names=actor_names(rt),
        starred=starred_ids(rt.catalog, rt.store.assignments.star_overrides()),
    )  # fmt: skip
    name = f"全区资料目录汇总_{_stamp(rt, now)}.xlsx"
    token = rt.store.exports.put(name, data, EXPORT_TTL, kind="xlsx")
    text = (
        f"**📎 全区资料目录汇总表已生成**\n- [{name}]({download_url(rt.settings, token)})\n"
        "链接 7 天内有效。"
    )
    queued = rt.store.outbox.add_once([(f"export:{request_id}", Notice(text, ""))])
    return {"queued": queued, "tokens": [token]}


# --- the September inspection ----------------------------------------------------------------


def export_binder(
    rt, now: datetime, department: str, request_id: str, to_office: bool = False
) -> dict:
    """A department's binder pack for the on-site inspection (Word, and PDF when a CJK font is
    there), stored for a week and linked to the department (or the office)."""
    if department not in rt.org.departments:
        return {"queued": 0, "reason": f"unknown department {department!r}"}
    assignments = rt.store.assignments.of_department(department)
    starred = starred_ids(rt.catalog, rt.store.assignments.star_overrides())
    rows = catalog_rows(rt.catalog, assignments, {}, starred, page_titles(rt, assignments))
    font = binder.pdf_font(rt.settings.pdf_font)
    stamp = _stamp(rt, now)
    stored = []
    for _, data, ext in binder.binder_files(
        rt.catalog.campaign, department, rows, now, tz=rt.settings.tz, font=font,
        inspect_url=inspect_url(rt.settings, department, rt.campaign_id),
    ):  # fmt: skip
        name = f"{department}_查验案卷包_{stamp}.{ext}"
        stored.append(
            (name, rt.store.exports.put(name, data, EXPORT_TTL, department=department, kind=ext))
        )
    text = "\n".join(
        [
            f"**📎 {department}实地查验案卷包已生成**（封面、按指标的目录、纸质材料卷册页码、链接二维码）",
            *_links_text(rt, stored),
            "链接 7 天内有效。" + ("" if font else binder.NO_PDF),
        ]
    )
    target = "" if to_office else department
    queued = rt.store.outbox.add_once([(f"export:{request_id}", Notice(text, target))])
    return {"queued": queued, "tokens": [t for _, t in stored], "pdf": bool(font)}


def inspect_url(settings, department: str, campaign: str = "") -> str:
    """The department's page of the inspection mode (bot/web/inspect_pages.py), in its campaign
    (/admin/<campaign>/inspect/…; the default campaign's keeps the old path)."""
    base = settings.public_url.rstrip("/") + "/admin/"
    if campaign and campaign != settings.campaign:
        base += f"{campaign}/"
    return f"{base}inspect/{quote(department, safe='')}"


def export_checklist(rt, now: datetime, request_id: str) -> dict:
    """The inspection team's district checklist by indicator, linked to the office's chat."""
    departments = rt.assigned_departments()
    assignments = rt.store.assignments.of_departments(departments)
    font = binder.pdf_font(rt.settings.pdf_font)
    stamp = _stamp(rt, now)
    stored = []
    for _, data, ext in binder.checklist_files(
        rt.catalog.campaign, rt.catalog, departments, assignments, now, tz=rt.settings.tz,
        font=font,
    ):  # fmt: skip
        name = f"全区实地查验清单_{stamp}.{ext}"
        stored.append((name, rt.store.exports.put(name, data, EXPORT_TTL, kind=ext)))
    text = "\n".join(
        [
            "**📎 全区实地查验清单已生成**（按指标列出各单位材料和存放位置，供查验组使用）",
            *_links_text(rt, stored),
            "链接 7 天内有效。" + ("" if font else binder.NO_PDF),
        ]
    )
    queued = rt.store.outbox.add_once([(f"export:{request_id}", Notice(text, ""))])
    return {"queued": queued, "tokens": [t for _, t in stored], "pdf": bool(font)}


# --- submissions ------------------------------------------------------------------------------


def build_submission(rt, now: datetime, department: str, version: int) -> dict:
    """Files of a frozen submission, built from its snapshot (not today's state), kept."""
    sub = rt.store.submissions.get(department, version)
    if sub is None:
        return {"reason": f"no submission {department} v{version}"}
    done = next(
        (s for s in rt.store.submissions.of_department(department) if s["version"] == version), {}
    )
    if done.get("xlsx") and done.get("docx"):
        tokens = {"xlsx": done["xlsx"], "docx": done["docx"]}
    else:
        at = datetime.fromisoformat(sub["at"].replace("Z", "+00:00"))
        sender = Sender(sender_name(rt, sub), at)
        tokens = {}
        for name, data, kind in department_files(
            rt, department, sub["assignments"], at, f"第{version}版",
            stars=sub.get("stars"), sender=sender,
        ):  # fmt: skip
            tokens[kind] = rt.store.exports.put(name, data, KEEP, department=department, kind=kind)
            tokens[kind + "_name"] = name
        mail = "pending" if rt.settings.smtp_url else "not_configured"
        # how complete the frozen catalogue was, for the office's page (issue 16 item 5)
        chores = [a for i, a in sub["assignments"].items() if i in rt.catalog.regular_ids]
        done_count = sum(1 for a in chores if a.is_complete)
        rt.store.submissions.update_files(
            department,
            version,
            {**tokens, "mail": mail, "done": done_count, "total": len(chores)},
            "system:submission",
            "submission_files",
        )
    names = [
        (tokens.get("xlsx_name") or done.get("xlsx_name", "资料目录.xlsx"), tokens["xlsx"]),
        (tokens.get("docx_name") or done.get("docx_name", "报送材料说明.docx"), tokens["docx"]),
    ]
    text = "\n".join([f"**📮 {department}第{version}版报送材料已定稿**", *_links_text(rt, names)])
    queued = rt.store.outbox.add_once(
        [(f"submission:{department}:{version}", Notice(text, department))]
    )
    return {"queued": queued, "tokens": [tokens["xlsx"], tokens["docx"]]}


def reply_to(rt, department: str, actor: str) -> list[str]:
    """Who answers a department's 报送 mail: its liaisons' e-mail addresses (org.yaml), else
    the sender's own when org.yaml lists one."""
    people = [m for m in rt.org.members if m.department == department and m.email]
    liaisons = [m.email for m in people if m.role == "liaison"]
    if liaisons:
        return list(dict.fromkeys(liaisons))
    own = [m.email for m in people if f"{m.platform}:{m.user_id}" == actor]
    return own[:1]


def submission_message(
    rt, department: str, version: int, sub: dict, files, frozen: dict | None = None
) -> EmailMessage:
    """The mail of one 报送: it says which department sends it (Subject, From's name, body),
    who sent it, what is attached, and what is true of the paper materials (how many, where
    kept); it carries the authenticity statement. `frozen`: the submission's snapshot."""
    campaign = rt.catalog.campaign
    at = datetime.fromisoformat(sub["at"].replace("Z", "+00:00"))
    local = rt.calendar.local_now(at)
    frozen = frozen or rt.store.submissions.get(department, version) or {}
    stars = frozen.get("stars")
    overrides = rt.store.assignments.star_overrides() if stars is None else stars
    rows = catalog_rows(
        rt.catalog, frozen.get("assignments", {}), starred=starred_ids(rt.catalog, overrides)
    )
    regular = [r for r in rows if r.indicator.is_regular]
    with_content = sum(1 for r in regular if has_content(r))
    links = sum(1 for r in rows for m in r.assignment.materials if m.is_link and not r.hides(m))
    who = sender_name(rt, {**sub, **{k: frozen[k] for k in ("name", "actor") if k in frozen}})
    msg = EmailMessage()
    msg["Subject"] = f"【{department}】{campaign.name}资料目录报送（第{version}版）"
    msg["To"] = campaign.submit_to
    answer = reply_to(rt, department, frozen.get("actor", sub.get("actor", "")))
    if answer:
        msg["Reply-To"] = ", ".join(answer)
    attached = [name for name, _, _ in files]
    body = [
        f"{campaign.issued_by}：",
        "",
        f"根据{campaign.document}要求，现报送{department}资料目录及报送材料说明"
        f"（第{version}版，{local:%Y-%m-%d %H:%M}定稿），请查收。",
        "",
        f"报送单位：{department}",
        f"报送人：{who}" + (f"（{answer[0]}）" if answer else ""),
        f"本单位承担指标{len(regular)}项，本次报送其中{with_content}项的材料，网上链接{links}条。",
        paper_statement(rows),
        AUTHENTICITY,
        "",
        "附件：",
        *(f"{i}. {name}" for i, name in enumerate(attached, start=1)),
        "",
        department,
        f"{local.year}年{local.month}月{local.day}日",
        "",
        f"（本邮件由督办系统代{department}发送。）",
    ]
    msg.set_content("\n".join(body) + "\n")
    for name, data, mime in files:
        main, _, sub_type = mime.partition("/")
        msg.add_attachment(data, maintype=main, subtype=sub_type, filename=name)
    return msg


def _message_id(department: str, version: int, at: str, sender: str) -> str:
    """One Message-ID per submission, the same on every retry: a receiving server that did get
    an attempt whose answer was lost can recognise the copy."""
    domain = sender.rpartition("@")[2] or "duban.local"
    digest = hashlib.sha1(f"{department}|{version}|{at}".encode()).hexdigest()[:16]
    return f"<submission.{version}.{digest}@{domain}>"


def mail_submission(rt, now: datetime, department: str, version: int) -> dict:
    """Mail a submission's files to the campaign's submit_to; raises on SMTP trouble so RQ
    retries it (and the office is told when the last retry fails)."""
    if not rt.settings.smtp_url:
        return {"reason": "mail is not configured"}
    sub = next(
        (s for s in rt.store.submissions.of_department(department) if s["version"] == version), None
    )
    if sub is None or not sub.get("xlsx"):
        raise RuntimeError(f"submission {version} has no files yet")
    if sub.get("mail") == "sent":
        return {"reason": "already mailed"}
    files = []
    for kind, mime in (("xlsx", XLSX_MIME), ("docx", DOCX_MIME)):
        got = rt.store.exports.get(sub[kind])
        if got is None:
            raise RuntimeError(f"submission file {kind} is missing")
        files.append((got[0], got[1], mime))
    cfg = SmtpConfig.from_url(rt.settings.smtp_url)
    msg = submission_message(rt, department, version, sub, files)
    msg["From"] = formataddr((f"{department}（督办系统代发）", cfg.sender))
    msg["Date"] = format_datetime(rt.calendar.local_now(now))
    msg["Message-ID"] = _message_id(department, version, sub["at"], cfg.sender)
    try:
        _send(cfg, msg)
    except (OSError, smtplib.SMTPException) as e:
        rt.store.submissions.update_files(
            department,
            version,
            {"mail": "retrying", "mail_error": type(e).__name__},
            "system:mail",
            "submission_mail_error",
        )
        raise
    rt.store.submissions.update_files(
        department,
        version,
        {"mail": "sent", "mailed_at": rt.store.now_iso(), "mailed_to": msg["To"]},
        "system:mail",
        "submission_mailed",
    )
    # 报送 told the department the mail was on its way; now it is out, and they are told so
    local = rt.calendar.local_now(now).strftime("%Y-%m-%d %H:%M")
    told = Notice(
        f"📮 {department}第{version}版报送材料已于 {local} 通过邮件发送至 {msg['To']}，无需再自行发送。",
        department,
    )
    rt.store.outbox.add_once([(f"mailed:{department}:{version}", told)])
    return {"mailed_to": msg["To"]}


def _send(cfg: SmtpConfig, msg: EmailMessage, timeout: float = 20.0) -> None:
    if cfg.tls == "ssl":
        client = smtplib.SMTP_SSL(
            cfg.host, cfg.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(cfg.host, cfg.port, timeout=timeout)
    with client:
        if cfg.tls == "starttls":
            client.starttls(context=ssl.create_default_context())
        if cfg.user:
            client.login(cfg.user, cfg.password)
        client.send_message(msg)


# --- on demand (导出) -------------------------------------------------------------------------


def request_district_export(enqueue, minute: str, now_iso: str, checklist: bool = False) -> str:
    """导出 全区 (or 导出 查验清单 with `checklist`) from chat or the admin pages: the summary
    workbook (or the inspection checklist) is built in the background, once per minute; the
    link goes to the office's chat."""
    kind, label = (
        ("checklist", "全区实地查验清单") if checklist else ("district", "全区资料目录汇总表")
    )
    rid = job_id(kind, minute)
    enqueue(f"bot.jobs.export_{kind}", job_id=job_id("export", rid), request_id=rid,
            now_iso=now_iso)  # fmt: skip
    return f"正在生成{label}，稍后下载链接将发到依法治区办群，请稍候。"


def request_department_export(
    enqueue,
    department: str,
    minute: str,
    now_iso: str,
    *,
    to_office: bool,
    where: str,
    binder: bool = False,
) -> str:
    """导出 <部门> (or 导出 案卷 <部门> with `binder`): its 资料目录 and 报送材料说明 (or its
    inspection binder pack) are built in the background; the links go to the office's chat
    (`to_office`) or the department's (`where` names it for the reply)."""
    rid = job_id(
        department, minute, "office" if to_office else "dept", *(("binder",) if binder else ())
    )
    enqueue(
        f"bot.jobs.export_{'binder' if binder else 'department'}",
        job_id=job_id("export", rid),
        department=department,
        request_id=rid,
        now_iso=now_iso,
        to_office=to_office,
    )
    files = (
        "实地查验案卷包（Word，有中文字体时另附 PDF）"
        if binder
        else "资料目录（Excel）和报送材料说明（Word）"
    )
    return f"正在生成{department}的{files}，稍后下载链接将发到{where}，请稍候。"

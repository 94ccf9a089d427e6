"""查验: the September inspection on the office's pages, phone first (issue 16 item 6).

/admin/inspect lists every department with its progress (查验 x/y, 有问题 z) and the district's
problems by department and by indicator; /admin/inspect/<部门> walks through its items, each
marked 已查验 or 有问题 with one tap, a note and photos from the phone's camera; its 查验报告 is a
page and a Word file (PDF too when a CJK font is there). Every change goes through
bot.inspection (compare-and-set, audited as `inspect`).

Routes live on the admin blueprint, so its login, CSRF check and headers apply.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from bot import binder, filestore, inspection
from bot.errors import UserError
from bot.exports import catalog_rows, page_titles
from bot.progress import Assignment
from bot.web import views
from bot.web.admin import bp, inspect_actor
from bot.web.common import runtime

SHOW = {"all": "全部", "left": "未查验", "problem": "有问题", "ok": "已查验"}
UPLOAD_ENDPOINTS = frozenset({"admin.inspect_mark"})
_SHA = re.compile(r"[0-9a-f]{64}")
_MIME = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}


def upload_limit(settings) -> int:
    """The request body an upload may have: room for two photos at the file limit, so one that
    is a little too big is refused with the file store's own sentence, not a bare 413."""
    return 2 * settings.file_max_bytes + 1024 * 1024


def refuse_too_big():
    """Read an upload's body (under upload_limit); when it is over, a redirect back to the item
    saying so, instead of a bare 413 page (None when the body was read)."""
    try:
        request.form  # noqa: B018  (parses the body, files included)
        return None
    except RequestEntityTooLarge:
        pass
    args = request.view_args or {}
    name, ind = str(args.get("name", "")), args.get("ind_id")
    mb = upload_limit(runtime().settings) // (1024 * 1024)
    flash(
        f"第{ind}项未保存：这次上传的照片合计超过 {mb} MB。请少选几张，或用手机相机的较小尺寸重拍后再上传。",
        "error",
    )
    return redirect(url_for("admin.inspect_department", name=name, saved=ind, _anchor=f"i-{ind}"))


def _department(name: str) -> str:
    if name not in runtime().assigned_departments():
        abort(404, description=f"没有找到部门「{name}」，请从查验首页选择。")
    return name


def _items(rt, department: str) -> list[inspection.Item]:
    """The department's items with their marks; a link without a name is called by its page
    title, as in the binder pack and the exports."""
    assignments = rt.store.assignments.of_department(department)
    rows = catalog_rows(rt.catalog, assignments, titles=page_titles(rt, assignments))
    named = {r.indicator.id: r.assignment for r in rows}
    marks = rt.store.inspections.marks([department])[department]
    return inspection.items_of(
        rt.catalog, named, {i: inspection.Mark.from_dict(m) for i, m in marks.items()}
    )


def _district(rt) -> list[inspection.DepartmentFindings]:
    departments = rt.assigned_departments()
    marks = {
        d: {i: inspection.Mark.from_dict(m) for i, m in found.items()}
        for d, found in rt.store.inspections.marks(departments).items()
    }
    # The summary needs which items each department has, not what is in them: the status
    # index (bonus items a department took up unasked included), not every assignment's JSON.
    wanted = set(departments)
    items = {
        (i, d): Assignment(i, d, role)
        for (i, d), (role, _) in rt.store.assignments.statuses().items()
        if d in wanted
    }
    return inspection.district(rt.catalog, departments, items, marks)


@bp.get("/admin/inspect")
def inspect_home():
    """Which department to inspect, how far each one is, and the problems found so far."""
    rt = runtime()
    found = _district(rt)
    return render_template(
        "inspect_home.html",
        found=found,
        by_indicator=inspection.by_indicator(found),
        total=sum(f.progress.total for f in found),
        checked=sum(f.progress.checked for f in found),
        problems=sum(f.progress.problems for f in found),
        pdf=bool(binder.pdf_font(rt.settings.pdf_font)),
    )


@bp.get("/admin/inspect/<name>")
def inspect_department(name: str):
    """A department's items, one card each: what to look at, and 已查验 / 有问题 in one tap."""
    rt = runtime()
    department = _department(name)
    items = _items(rt, department)
    show = request.args.get("show", "all")
    if show not in SHOW:
        show = "all"
    shown = [
        i
        for i in items
        if show == "all"
        or (show == "left" and i.mark.state not in inspection.STATES)
        or i.mark.state == show
    ]
    links = rt.store.links.states(m.url for i in shown for m in i.assignment.materials if m.url)
    cards = [
        {
            "item": i,
            "a": views.assignment_dict(i.assignment, links, i.indicator),
            "next": _next_left(items, i.id),
        }
        for i in shown
    ]
    land = request.args.get("land", type=int) or request.args.get("saved", type=int)
    if land not in {i.id for i in shown}:
        land = None  # the item left this filter's list (marked otherwise): told at the top
    return render_template(
        "inspect_department.html",
        department=department,
        cards=cards,
        p=inspection.progress(items),
        show=show,
        shows=SHOW,
        saved=request.args.get("saved", type=int),
        land=land,
        who=views.person_namer(rt),
        max_mb=rt.settings.file_max_mb,
    )


def _next_left(items: list[inspection.Item], after: int) -> int | None:
    """The next item not yet judged after `after` (for "下一项")."""
    return next(
        (i.id for i in items if i.id > after and i.mark.state not in inspection.STATES), None
    )


@bp.post("/admin/inspect/<name>/<int:ind_id>")
def inspect_mark(name: str, ind_id: int):
    """One tap: 已查验 or 有问题 (or 保存 for the note and photos alone, 撤销 to unmark), with
    the note as written and any photos taken; back to the same card."""
    rt = runtime()
    department = _department(name)
    # the store's assignments: a bonus item a department took up unasked is inspected too
    if (
        not inspection.is_item(rt.catalog, ind_id)
        or rt.store.assignments.get(ind_id, department)[0] is None
    ):
        abort(404, description=f"{department}没有第{ind_id}项查验内容。")
    action = request.form.get("action", "")
    if request.form.get("drop"):
        action = "save"  # a photo's 删除 button
    if action not in ("ok", "problem", "save", "clear"):
        abort(400, description="未知的查验操作。")
    show = request.form.get("show", "all")

    def back(land: int) -> str:
        return url_for(
            "admin.inspect_department",
            name=department,
            **({"show": show} if show in SHOW and show != "all" else {}),
            saved=ind_id,
            **({"land": land} if land != ind_id else {}),
            _anchor=f"i-{land}",
        )

    drop = request.form.get("drop", "")
    if drop and not _SHA.fullmatch(drop):
        abort(400, description="要删除的照片无法识别，请刷新页面后重试。")
    try:
        note = inspection.check_note(request.form.get("note", ""))
        files = filestore.file_store(rt.settings.file_dir, rt.settings.data_dir)
        photos = []
        for f in request.files.getlist("photo"):
            if not f or not f.filename:
                continue  # the file input left empty
            photos.append(
                inspection.keep_photo(files, f.read(), f.filename, rt.settings.file_max_bytes)
            )
        mark = inspection.change(
            rt.store,
            department,
            ind_id,
            state=action if action in inspection.STATES else None,
            note=_note_change(note),
            photos=photos,
            drop=drop,
            clear=action == "clear",
            actor=inspect_actor(),
        )
        flash(inspection.said(department, ind_id, mark, len(photos), dropped=bool(drop)), "ok")
    except (UserError, filestore.FileRefused) as e:
        flash(f"第{ind_id}项未保存：{e}", "error")
        return redirect(back(ind_id))
    if action == "ok" and not photos and show in ("all", "left"):
        # 已查验 with nothing more to say: on to the next item not yet judged, told there
        nxt = _next_left(_items(rt, department), ind_id)
        if nxt is not None:
            return redirect(back(nxt))
    return redirect(back(ind_id))


def _note_change(note: str) -> str | None:
    """The note to store, or None to leave the stored one: a form carries the note as its page
    showed it (note_was), so a tap that did not touch the note cannot undo another inspector's
    note written since."""
    if "note" not in request.form:
        return None
    if "note_was" in request.form and note == inspection.check_note(request.form["note_was"]):
        return None
    return note


@bp.get("/admin/inspect/<name>/report")
def inspect_report(name: str):
    """The department's findings: counts, problems with notes and photos, what is left."""
    rt = runtime()
    department = _department(name)
    items = _items(rt, department)
    return render_template(
        "inspect_report.html",
        department=department,
        items=items,
        p=inspection.progress(items),
        problems=[i for i in items if i.mark.state == inspection.PROBLEM],
        fine=[i for i in items if i.mark.state == inspection.OK],
        left=[i for i in items if i.mark.state not in inspection.STATES],
        who=views.person_namer(rt),
        pdf=bool(binder.pdf_font(rt.settings.pdf_font)),
    )


def _download(data: bytes, name: str, ext: str) -> Response:
    resp = Response(data, mimetype=_MIME[ext])
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    resp.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    )
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _stamp(rt) -> str:
    return rt.calendar.local_now(rt.store.clock()).strftime("%Y%m%d-%H%M")


@bp.get("/admin/inspect/<name>/report.<ext>")
def inspect_report_file(name: str, ext: str):
    rt = runtime()
    department = _department(name)
    font = binder.pdf_font(rt.settings.pdf_font)
    if ext not in _MIME or (ext == "pdf" and not font):
        abort(404, description=binder.NO_PDF if ext == "pdf" else "没有这种文件。")
    files = inspection.findings_files(
        rt.catalog.campaign, department, _items(rt, department), rt.store.clock(),
        tz=rt.settings.tz, who=views.person_namer(rt), font=font if ext == "pdf" else "",
        photo=filestore.file_store(rt.settings.file_dir, rt.settings.data_dir).get,
    )  # fmt: skip
    return _download(files[ext], f"{department}_查验报告_{_stamp(rt)}.{ext}", ext)


@bp.get("/admin/inspect/summary.<ext>")
def inspect_summary_file(ext: str):
    rt = runtime()
    font = binder.pdf_font(rt.settings.pdf_font)
    if ext not in _MIME or (ext == "pdf" and not font):
        abort(404, description=binder.NO_PDF if ext == "pdf" else "没有这种文件。")
    blocks = inspection.summary_blocks(
        rt.catalog.campaign, _district(rt), rt.store.clock(), rt.settings.tz
    )
    data = binder.to_docx(blocks) if ext == "docx" else binder.to_pdf(blocks, font)
    return _download(data, f"全区查验情况汇总_{_stamp(rt)}.{ext}", ext)


@bp.get("/admin/inspect/photo/<sha>")
def inspect_photo(sha: str):
    """A stored photo (or its small copy) by its digest; pictures only, never anything else."""
    rt = runtime()
    if not _SHA.fullmatch(sha):
        abort(404)
    data = filestore.file_store(rt.settings.file_dir, rt.settings.data_dir).get(sha)
    kind = filestore.sniff(data) if data else None
    if kind not in filestore.IMAGES:
        abort(404, description="照片不存在或已被清理。")
    resp = Response(data, mimetype=filestore.KINDS[kind][1])
    resp.headers["Cache-Control"] = "private, max-age=86400, immutable"  # content-addressed
    resp.headers["Content-Disposition"] = "inline"
    return resp

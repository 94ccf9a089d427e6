"""A department's fill-in page (/m/<token>): its items on a phone, each opening to what is
asked and what the department has given, with forms for every act chat offers on an item.

The link is the credential (bot/filllinks.py): signed, expiring, revoked by 解绑 or a newer link;
every request through it is checked first and audited. Every write goes through bot/liaison.py,
the same rules, audit and notices as chat. Plain forms (no script), CSRF on each.
"""

from __future__ import annotations

import collections
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from bot import filestore, filllinks, liaison, texts
from bot.errors import UserError
from bot.filllinks import FillLink, Refused
from bot.progress import Role, Status, size_text
from bot.runtime import Runtime
from bot.timeline import Timeline
from bot.web.common import base_runtime, check_csrf, install, runtime, secure_headers

bp = Blueprint("fill", __name__, template_folder="templates", url_prefix="/m")

FILTERS = {"open": "未完成", "returned": "已退回", "done": "已完成", "all": "全部"}

REFUSED = {
    "tampered": (404, "链接无效", "这个链接不完整或被改动过，无法打开。"),
    "expired": (410, "链接已过期", "这个填报页链接已过有效期。"),
    "revoked": (410, "链接已失效", "这个链接已作废：已解绑，或已发送过新的填报页链接。"),
}

# Browsers send a textarea's line breaks as CR LF whatever was typed (the HTML standard's
# "normalize newlines" when a form is submitted:
# https://html.spec.whatwg.org/multipage/form-control-infrastructure.html#converting-an-entry-list-to-a-list-of-name-value-pairs);
# the text as typed has LF, as chat receives it.


def _typed(field: str) -> str:
    return request.form.get(field, "").replace("\r\n", "\n")


@bp.record_once
def _setup(state) -> None:
    install(state.app)


@bp.app_template_filter("file_size")
def _file_size(n: int) -> str:
    return size_text(n)


@bp.url_value_preprocessor
def _campaign_of_link(endpoint, values) -> None:
    """A link was issued in one campaign's store (its person's 填报 there): the page, its forms
    and its writes are that campaign's (runtime() answers with its view)."""
    token = (values or {}).get("token")
    if token:
        g.campaign_rt = _campaign_holding(token.split(".")[0])


def _campaign_holding(link_id: str) -> Runtime | None:
    base = base_runtime()
    for cid in base.campaign_ids():  # the default first: one read for a one-campaign deployment
        view = base.for_campaign(cid)
        if view is not None and view.store.fill_links.get(link_id) is not None:
            return view
    return None


@bp.after_request
def _headers(resp):
    # the token is in the address: it must not travel on to the sites the materials link to
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = "no-store"
    return secure_headers(resp)


def _link(token: str) -> FillLink:
    """The link's record, or a refusal page (raised) that shows no data."""
    rt = runtime()
    try:
        link_id, expires = filllinks.read(rt.services.link_key, token, rt.store.clock())
    except Refused as e:
        if e.kind == "expired":
            rt.store.fill_links.audit_use(_expired_owner(token), "fill_refused", "链接已过期")
        raise
    link = rt.store.fill_links.get(link_id)
    if link is None or link.expires != expires:
        rt.store.fill_links.audit_use(None, "fill_refused", f"已作废的链接 {link_id[:6]}…")
        raise Refused("revoked")
    return link


def _expired_owner(token: str) -> FillLink | None:
    return runtime().store.fill_links.get(token.split(".")[0])


@bp.errorhandler(Refused)
def _refused(e: Refused):
    code, title, why = REFUSED[e.kind]
    return render_template("fill_refused.html", title=title, why=why), code


@bp.get("/<token>")
def items(token: str):
    link = _link(token)
    rt = runtime()
    which = request.args.get("f", "open")
    if which not in FILTERS:
        which = "open"
    rows, counts = _rows(rt, link, which)
    rt.store.fill_links.audit_use(link, "fill_open", f"填报页：{FILTERS[which]}")
    return render_template(
        "fill_items.html",
        link=link,
        token=token,
        rows=rows,
        counts=counts,
        which=which,
        filters=FILTERS,
        deadline=texts.deadline_line(rt.calendar, _timeline(rt), rt.store.clock()),
    )


def _timeline(rt):
    return Timeline(rt.catalog.campaign, rt.store.assignments.event_dates())


def _rows(rt, link: FillLink, which: str) -> tuple[list[dict], dict[str, int]]:
    """The department's items for a filter: returned first (with their reason), then open
    before complete, lead and ★ first, by number. Bonus and deduction items never count (as
    in 我的任务): they are listed under 全部 only, after the others."""
    stars = rt.store.assignments.star_overrides()
    mine = rt.store.assignments.of_department(link.department)
    rows = []
    for a in mine.values():
        ind = rt.catalog.get(a.indicator_id)
        if ind is None:
            continue
        rows.append(
            {
                "a": a,
                "ind": ind,
                "starred": stars.get(ind.id, ind.star),
                "lead": a.role is Role.LEAD and ind.is_regular,
                "returned": a.status is Status.RETURNED,
                "open": not a.is_complete,
                "extra": not ind.is_regular,
                "label": texts.KIND_LABELS.get(ind.kind) or a.role.label,
            }
        )
    rows.sort(
        key=lambda r: (
            r["extra"],
            not r["returned"],
            not r["open"],
            not r["lead"],
            not r["starred"],
            r["ind"].id,
        )
    )
    keep = {
        "open": lambda r: r["open"] and not r["extra"],
        "returned": lambda r: r["returned"],
        "done": lambda r: not r["open"] and not r["extra"],
        "all": lambda r: True,
    }
    counts = {k: sum(1 for r in rows if f(r)) for k, f in keep.items()}
    counts["regular"] = sum(1 for r in rows if not r["extra"])
    return [r for r in rows if keep[which](r)], counts


@bp.get("/<token>/<int:n>")
def item(token: str, n: int):
    link = _link(token)
    rt = runtime()
    if rt.catalog.get(n) is None or rt.store.assignments.get(n, link.department)[0] is None:
        rt.store.fill_links.audit_use(link, "fill_open", f"第{n}项（不属本部门）")
        flash(texts.NOT_RESPONSIBLE.format(dept=link.department, n=n), "error")
        return redirect(url_for("fill.items", token=token))
    rt.store.fill_links.audit_use(link, "fill_open", f"第{n}项")
    return _item_page(link, token, n)


def _item_page(link: FillLink, token: str, n: int, typed=None, error: str = "", status=200):
    rt = runtime()
    ind = rt.catalog.get(n)
    a, _ = rt.store.assignments.get(n, link.department)
    starred = rt.store.assignments.star_overrides().get(ind.id, ind.star)
    units = _units(rt, link, n) if a.role is Role.LEAD else []
    page = render_template(
        "fill_item.html",
        link=link,
        token=token,
        ind=ind,
        a=a,
        starred=starred,
        label=texts.KIND_LABELS.get(ind.kind) or a.role.label,
        cooperating=a.role is Role.COOPERATE or not ind.is_regular,
        can_undo=bool(rt.store.assignments.undo_top(link.department, n)),
        units=units,
        units_said=_units_said(units),
        typed=typed or {},
        error=error,
        max_size=size_text(rt.settings.file_max_bytes),
    )
    return page, status


def _units(rt, link: FillLink, n: int) -> list[tuple[str, Status]]:
    """The other units on an item the department leads, and how far each is: behind first."""
    others = [d for d in rt.services.units_of.get(n, {}) if d != link.department]
    states = rt.store.assignments.statuses_for(n, others)
    order = [d for d in rt.org.departments if d in states]
    return sorted(((d, states[d]) for d in order), key=lambda u: u[1].is_complete)


def _units_said(units: list[tuple[str, Status]]) -> str:
    """「配合单位 32 个：已完成 3，未开始 29」, as 查看 sums them up in chat."""
    counts: dict[Status, int] = {}
    for _, st in units:
        counts[st] = counts.get(st, 0) + 1
    parts = "，".join(f"{st.label} {k}" for st, k in sorted(counts.items(), key=_by_label))
    return f"配合单位 {len(units)} 个：{parts}"


def _by_label(item: tuple[Status, int]) -> int:
    return list(Status).index(item[0])


ACTS = {
    "link": lambda rt, link, n, seen: liaison.add_link(
        rt, link, n, _typed("url"), _typed("name"), seen=seen
    ),
    "paper": lambda rt, link, n, seen: liaison.add_paper(
        rt, link, n, _typed("title"), _typed("place"), seen=seen
    ),
    "explain": lambda rt, link, n, seen: liaison.explain(rt, link, n, _typed("text"), seen=seen),
    "rectify": lambda rt, link, n, seen: liaison.rectify(rt, link, n, _typed("fix"), seen=seen),
    "delete": lambda rt, link, n, seen: liaison.delete(
        rt, link, n, _number(request.form.get("number", "")), seen=seen
    ),
    "place": lambda rt, link, n, seen: liaison.place(
        rt, link, n, _number(request.form.get("number", "")), _typed("where"), seen=seen
    ),
    "undo": lambda rt, link, n, seen: liaison.undo(rt, link, n, seen=seen),
    "done": lambda rt, link, n, seen: liaison.mark_done(rt, link, n, seen=seen),
    "na": lambda rt, link, n, seen: liaison.not_applicable(
        rt, link, n, _typed("reason"), seen=seen
    ),
}


def _number(raw: str) -> int:
    if not raw.isdigit():
        raise UserError("请选择一份材料。")
    return int(raw)


@bp.post("/<token>/<int:n>/<act>")
def write(token: str, n: int, act: str):
    link = _link(token)
    check_csrf()
    rt = runtime()
    do = ACTS.get(act)
    if do is None:
        flash("不支持这个操作。", "error")
        return redirect(url_for("fill.item", token=token, n=n))
    if rt.catalog.get(n) is None or rt.store.assignments.get(n, link.department)[0] is None:
        flash(texts.NOT_RESPONSIBLE.format(dept=link.department, n=n), "error")
        return redirect(url_for("fill.items", token=token))
    seen = request.form.get("v", "")
    try:
        done = do(rt, link, n, int(seen) if seen.isdigit() else None)
    except UserError as e:
        # shown on the page as it was, what was typed still in its form: nothing is lost
        typed = {f: _typed(f) for f in TYPED.get(act, ())}
        return _item_page(link, token, n, {"act": act, **typed}, str(e), 400)
    flash(done.message, "ok")
    return redirect(url_for("fill.item", token=token, n=n) + f"#{act}")


TYPED = {
    "link": ("url", "name"),
    "paper": ("title", "place"),
    "explain": ("text",),
    "rectify": ("fix",),
    "na": ("reason",),
}


# --- the door (bot/filllinks.py): what a link in a group message opens --------------------------


@bp.get("/d/<door>")
def door(door: str):
    """A department's door: its name and how to get one's own page link. No item, no form:
    everyone in a group sees the link, and it must give none of them the department's pen."""
    department = filllinks.read_door(runtime().services.link_key, door)
    raw = request.args.get("n", "")
    item = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 4 else None
    days = runtime().settings.fill_link_days
    return render_template("fill_door.html", department=department, item=item, days=days)


# --- stored files: upload, and shown under the link's authority ----------------------------

# What the body of an upload may hold beyond the file itself (the form's other fields and the
# multipart framing); a larger body is refused unread with the file's size limit.
UPLOAD_OVERHEAD = 64 * 1024


def upload_limit(settings) -> int:
    return settings.file_max_bytes + UPLOAD_OVERHEAD


def is_upload(path: str) -> bool:
    """Whether a request path is the fill-in page's upload (its body may be a file)."""
    parts = path.split("/")
    return len(parts) == 5 and parts[1] == "m" and parts[3].isdigit() and parts[4] == "upload"


@bp.post("/<token>/<int:n>/upload")
def write_upload(token: str, n: int):
    link = _link(token)
    rt = runtime()
    request.max_content_length = upload_limit(rt.settings)
    try:
        check_csrf()
        sent = request.files.get("file")
    except RequestEntityTooLarge:
        too_big = (
            f"文件超过了 {size_text(rt.settings.file_max_bytes)} 的上限，请压缩或拆分后再上传。"
        )
        rt.store.fill_links.audit_use(link, "fill_upload_refused", f"第{n}项：{too_big}")
        return _item_page(link, token, n, {"act": "upload"}, too_big, 413)
    if rt.catalog.get(n) is None or rt.store.assignments.get(n, link.department)[0] is None:
        flash(texts.NOT_RESPONSIBLE.format(dept=link.department, n=n), "error")
        return redirect(url_for("fill.items", token=token))
    if sent is None or (not sent.filename and not sent.content_length):
        return _item_page(link, token, n, {"act": "upload"}, "请先选择要上传的文件或照片。", 400)
    seen = request.form.get("v", "")
    data = sent.read(rt.settings.file_max_bytes + 1)
    try:
        done = liaison.add_file(
            rt, link, n, data, sent.filename or "", seen=int(seen) if seen.isdigit() else None
        )
    except UserError as e:
        rt.store.fill_links.audit_use(link, "fill_upload_refused", f"第{n}项：{e}")
        return _item_page(link, token, n, {"act": "upload"}, str(e), 400)
    flash(done.message, "ok")
    return redirect(url_for("fill.item", token=token, n=n) + "#materials")


def _stored(link: FillLink, n: int, sha256: str) -> filestore.StoredFile:
    """The file `sha256` when it is a material of the link's department on item `n` (the link
    gives no authority over any other file); 404 otherwise."""
    rt = runtime()
    a = rt.store.assignments.get(n, link.department)[0] if rt.catalog.get(n) else None
    for m in a.materials if a else ():
        if m.file is not None and m.file.sha256 == sha256:
            return m.file
    abort(404)


@bp.get("/<token>/<int:n>/file/<sha256>")
def file_original(token: str, n: int, sha256: str):
    """The original as it was stored, downloaded under its own name."""
    link = _link(token)
    f = _stored(link, n, sha256)
    data = runtime().services.files.get(f.sha256)
    if data is None:
        abort(404)
    runtime().store.fill_links.audit_use(link, "fill_file", f"第{n}项：下载「{f.name}」")
    resp = Response(data, mimetype=f.mime)
    resp.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(f.name)}"
    return resp


@bp.get("/<token>/<int:n>/thumb/<sha256>")
def file_thumb(token: str, n: int, sha256: str):
    """An image material downscaled for the page (filestore.thumbnail); the original is kept."""
    link = _link(token)
    f = _stored(link, n, sha256)
    small = _thumbnail(runtime().services.files, f.sha256) if f.is_image else None
    if small is None:
        abort(404)
    return Response(small, mimetype="image/jpeg")


_THUMBS: collections.OrderedDict[str, bytes] = collections.OrderedDict()
_THUMBS_KEPT = 64  # ~100 KB each: the photos of a page are not decoded on every view


def _thumbnail(files, sha256: str) -> bytes | None:
    """The downscaled copy of an image, made once per process (a phone photo takes a good part
    of a second to decode, bench/thumbnails.py); nothing is kept for a missing file."""
    small = _THUMBS.get(sha256)
    if small is None:
        data = files.get(sha256)
        small = filestore.thumbnail(data) if data else None
        if small is None:
            return None
        _THUMBS[sha256] = small
        while len(_THUMBS) > _THUMBS_KEPT:
            _THUMBS.popitem(last=False)
    return small

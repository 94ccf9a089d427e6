"""The office's web pages under /admin, and export downloads under /exports/<token>.

Review, stars, the inspection's day, "remind now" and exports call the same rules and services
as their chat commands (bot.office, bot.rules; actor `web:admin`), so the refusals, the audit
entries and the notices are identical; form values are passed whole, never spelled into a command.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets
from datetime import date, timedelta
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    get_flashed_messages,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from rq import Queue

from bot import delivery, office, rules, texts
from bot.errors import UserError
from bot.exports import request_department_export, request_district_export
from bot.jobs import JOB_LABELS
from bot.progress import STATUS_LABELS, Status, starred_ids
from bot.queue import all_queues
from bot.reminders import remind_now, timeline_of
from bot.schedule import job_id
from bot.web import cockpit, indicator_cards, matrix_table, overview_rows, review_queue, views
from bot.web.common import (
    base_runtime,
    campaign_title,
    check_csrf,
    client_address,
    csrf_token,
    enter_campaign,
    install,
    local_time,
    runtime,
    secure_headers,
)
from bot.web.history import recent as recent_history

log = logging.getLogger(__name__)


class CampaignBlueprint(Blueprint):
    """Every /admin/… rule twice: as written (the default campaign, so bookmarks keep working)
    and as /admin/<campaign id>/… (that campaign), under the same endpoint; url_for keeps the
    campaign of the page it is called on (_keep_campaign)."""

    def add_url_rule(self, rule, endpoint=None, view_func=None, **options):
        super().add_url_rule(rule, endpoint, view_func, **options)
        if (
            rule.startswith("/admin")
            and endpoint != "static"
            and not rule.startswith("/admin/static")
        ):
            twin = "/admin/<campaign:cid>" + rule[len("/admin") :]
            super().add_url_rule(twin, endpoint, view_func, **options)


bp = CampaignBlueprint(
    "admin",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/admin/static",
)

DEMO_PASSWORD = "demo"
LOGIN_WINDOW = 15 * 60  # seconds a run of failed logins is remembered
LOGIN_MAX_FAILURES = 10  # per client address in that window; then it waits for the window
# The account (attempts from any address): this many failures in the window pass unslowed,
# then each one makes the next attempt wait twice as long, 1 s up to a minute: guessing from
# many addresses stays slow, and nobody can lock the office out for longer than a minute.
LOGIN_ACCOUNT_FREE = LOGIN_MAX_FAILURES
LOGIN_DELAY_MS = (1000, 60_000)
SESSION_HOURS = 12
RANKING_JOB = "bot.jobs.send_ranking"
MATRIX_LIST_ALL = 150  # departments whose items the matrix's phone list carries in the page

_OPEN = {"admin.login", "admin.static", "admin.download_export"}
# What an archived campaign still does: log in and out, and build its exports.
_ARCHIVED_WRITES = {"admin.login", "admin.logout", "admin.build_export"}
EVERY_CAMPAIGN = "*"  # the scope of a deployment admin's login (DUBAN_ADMIN_PASSWORD)
WEB_ACTOR = "web:admin"  # the office on these pages, in the audit log (views.actor_named)
INSPECTOR = "inspector"  # the role of a login with DUBAN_INSPECTOR_PASSWORD
INSPECTOR_ACTOR = "web:inspector"
_ACTION_NAMES = views.ACTION_LABELS


@bp.record_once
def _setup(state) -> None:
    install(state.app)
    state.app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=SESSION_HOURS))


def admin_password() -> str:
    """The deployment admin's password (every campaign): DUBAN_ADMIN_PASSWORD; in demo mode
    "demo" when none is set; "" = none."""
    s = runtime().settings
    return s.admin_password or (DEMO_PASSWORD if s.demo else "")


def campaign_password(rt=None) -> str:
    """The office admin's password of one campaign ("" = none): the setting its campaign.yaml
    names with `admin_password_env` (a DUBAN_ADMIN_PASSWORD_* variable, read with the others)."""
    rt = rt or runtime()
    name = rt.spec.admin_password_env if rt.spec else ""
    return dict(rt.settings.campaign_admin_passwords).get(name, "") if name else ""


def login_scope() -> str:
    """The campaign a login opens: one campaign's id, or EVERY_CAMPAIGN."""
    return session.get("scope") or EVERY_CAMPAIGN


def may_open(cid: str) -> bool:
    """Whether this request's login may see campaign `cid`."""
    return is_logged_in() and login_scope() in (EVERY_CAMPAIGN, cid)


def inspector_password() -> str:
    """DUBAN_INSPECTOR_PASSWORD: a login that opens the inspection pages only ("" = none)."""
    return runtime().settings.inspector_password


def credential_fingerprint(role: str = "admin", scope: str = EVERY_CAMPAIGN) -> str:
    """Changes whenever the role's password or the session signing key does, so a login made
    under the old ones ends (the secret key alone already voids the old cookies' signature)."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    if scope != EVERY_CAMPAIGN:
        crt = base_runtime().for_campaign(scope)
        secret = campaign_password(crt) if crt is not None else ""
        if not secret:
            return ""  # the campaign or its password is gone: the login ends
        msg = f"campaign:{scope}:".encode() + secret.encode()
        return hmac.new(key, msg, hashlib.sha256).hexdigest()[:32]
    if role == INSPECTOR:
        return hmac.new(key, b"inspector:" + inspector_password().encode(), hashlib.sha256).hexdigest()[:32]  # fmt: skip
    return hmac.new(key, admin_password().encode(), hashlib.sha256).hexdigest()[:32]


def login_role() -> str:
    """The login's role: "admin", or INSPECTOR (the inspectors' password)."""
    return INSPECTOR if session.get("role") == INSPECTOR else "admin"


def inspect_actor() -> str:
    """Who marks an inspection item, in the audit log."""
    return INSPECTOR_ACTOR if login_role() == INSPECTOR else WEB_ACTOR


def is_logged_in() -> bool:
    """A signed cookie names a login; the store says whether it is still open (logout, a new
    password and a new secret key end it, even for a copy of the cookie)."""
    if "admin_ok" not in g:
        sid = session.get("sid") if session.get("admin") else None
        role = login_role()
        expected = credential_fingerprint(role, login_scope()) if sid else ""
        g.admin_ok = (
            bool(sid)
            and bool(expected)
            and (role != INSPECTOR or bool(inspector_password()))
            and hmac.compare_digest(base_runtime().store.logins.session_fingerprint(sid), expected)
        )
    return g.admin_ok


@bp.url_value_preprocessor
def _campaign_of_url(endpoint, values) -> None:
    g.cid = values.pop("cid", None) if values else None


@bp.url_defaults
def _keep_campaign(endpoint: str, values: dict) -> None:
    """Links on a campaign's page stay in that campaign; cid=None names the default one."""
    if "cid" in values:
        if values["cid"] is None or values["cid"] == base_runtime().campaign_id:
            values.pop("cid")
        return
    cid = g.get("cid")
    if cid and current_app.url_map.is_endpoint_expecting(endpoint, "cid"):
        values["cid"] = cid


@bp.before_request
def _guard():
    if request.endpoint in ("admin.static", "admin.download_export"):
        return None
    cid = g.get("cid")
    if enter_campaign(cid) is None:
        abort(404, description=f"没有找到督办活动「{cid}」，请检查网址，或从总览进入。")
    rt = runtime()
    if not admin_password() and not campaign_password(rt):
        return render_template("disabled.html"), 503
    if request.endpoint in inspect_pages.UPLOAD_ENDPOINTS and is_logged_in():
        # photos: larger bodies than anything else, and only from a login
        request.max_content_length = inspect_pages.upload_limit(runtime().settings)
        refused = inspect_pages.refuse_too_big()
        if refused is not None:
            return refused
    check_csrf()
    if request.endpoint not in _OPEN and not is_logged_in():
        if request.method == "GET":
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        abort(401, description="登录已失效，请重新登录。")
    if (
        request.endpoint not in _OPEN
        and login_role() == INSPECTOR
        and not str(request.endpoint).startswith("admin.inspect")
        and request.endpoint != "admin.logout"
    ):
        if request.method == "GET":
            return redirect(url_for("admin.inspect_home"))
        abort(403, description="查验账号只能使用查验页面。")
    if request.endpoint not in _OPEN and not may_open(rt.campaign_id):
        abort(403, description="这个账号只能管理自己的督办活动，不能打开「"
                               f"{campaign_title(rt)}」。请用该活动的管理员密码登录。")  # fmt: skip
    if request.endpoint == "admin.campaigns" and login_scope() != EVERY_CAMPAIGN:
        abort(403, description="全部督办活动的列表只有部署管理员（DUBAN_ADMIN_PASSWORD）可以查看。")
    if request.method == "POST" and rt.is_archived and request.endpoint not in _ARCHIVED_WRITES:
        abort(409, description=f"「{campaign_title(rt)}」已归档，只能查看和导出，不能修改。")
    return None


bp.after_request(secure_headers)


@bp.app_context_processor
def _globals():
    rt = runtime()
    return {
        "logged_in": is_logged_in() and may_open(rt.campaign_id),
        "archived": rt.is_archived,
        "campaign": {"id": rt.campaign_id, "title": campaign_title(rt)},
        "campaign_menu": campaign_menu(rt),
        "status_labels": STATUS_LABELS,
        "demo": rt.settings.demo,
        "demo_note": views.demo_note(rt),
        "inspector": is_logged_in() and login_role() == INSPECTOR,
    }


def _campaign_cid(cid: str) -> str | None:
    """The id to put in a URL: None for the default campaign (its pages keep their old paths)."""
    return None if cid == base_runtime().campaign_id else cid


def campaign_menu(rt) -> list[dict]:
    """The header's campaign switcher: every campaign when a deployment admin is logged in and
    there is more than one; each entry opens the same page in that campaign when the page takes
    no other argument, else that campaign's overview."""
    if not has_request_context() or not (request.blueprint == "admin" and is_logged_in()):
        return []
    if login_scope() != EVERY_CAMPAIGN or login_role() == INSPECTOR:
        return []
    ids = rt.campaign_ids()
    if len(ids) < 2:
        return []
    same = request.method == "GET" and not request.view_args and request.endpoint != "admin.login"
    endpoint = request.endpoint if same else "admin.overview"
    out = []
    for cid in ids:
        crt = rt.for_campaign(cid)
        if crt is None:
            continue
        out.append(
            {
                "id": cid,
                "title": campaign_title(crt),
                "archived": crt.is_archived,
                "url": url_for(endpoint, cid=_campaign_cid(cid)),
                "current": cid == rt.campaign_id,
            }
        )
    return out


# --- login ---------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only our own /admin pages are followed after login (never another site)."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    if login_role() == INSPECTOR:
        return url_for("admin.inspect_home")
    return url_for("admin.overview")


@bp.route("/admin/login", methods=["GET", "POST"])
def login():
    rt = runtime()
    if request.method == "POST":
        client = client_address()
        state, wait_ms = base_runtime().store.logins.reserve(
            client, LOGIN_MAX_FAILURES, LOGIN_WINDOW, LOGIN_ACCOUNT_FREE, *LOGIN_DELAY_MS
        )
        if state != "go":
            if state == "address":
                flash(f"登录失败次数过多，请 {-(-wait_ms // 60_000)} 分钟后再试。", "error")
            else:
                flash(f"登录尝试过于频繁，请 {-(-wait_ms // 1000)} 秒后再试。", "error")
            page = render_template("login.html", next=request.form.get("next", ""))
            return page, 429, {"Retry-After": str(-(-wait_ms // 1000))}
        given = request.form.get("password", "").encode()
        role, scope = "", EVERY_CAMPAIGN
        if admin_password() and hmac.compare_digest(given, admin_password().encode()):
            role = "admin"
        elif campaign_password(rt) and hmac.compare_digest(given, campaign_password(rt).encode()):
            role, scope = "admin", rt.campaign_id
        elif inspector_password() and hmac.compare_digest(given, inspector_password().encode()):
            role = INSPECTOR
        if role:
            base_runtime().store.logins.succeeded(client)
            session.clear()
            session.permanent = True
            session["admin"] = True
            if role == INSPECTOR:
                session["role"] = INSPECTOR
            if scope != EVERY_CAMPAIGN:
                session["scope"] = scope
            session["sid"] = secrets.token_urlsafe(24)
            base_runtime().store.logins.open_session(
                session["sid"], credential_fingerprint(role, scope), SESSION_HOURS * 3600
            )
            csrf_token()
            flash("登录成功。", "ok")
            return redirect(_safe_next(request.form.get("next")))
        flash("密码不正确，请重新输入。", "error")
        return render_template("login.html", next=request.form.get("next", "")), 401
    if may_open(rt.campaign_id):
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", next=request.args.get("next", ""), demo=rt.settings.demo)


@bp.post("/admin/logout")
def logout():
    if session.get("sid"):
        base_runtime().store.logins.close_session(session["sid"])
    session.clear()
    flash("您已安全退出。", "ok")
    return redirect(url_for("admin.login"))


# --- pages ---------------------------------------------------------------------------------


@bp.get("/admin/")
@bp.get("/admin")
def overview():
    rt = runtime()
    ranking = rt.store.assignments.ranking_inputs()  # every status, read once for the whole page
    latest = rt.store.submissions.latest()
    stars = starred_ids(rt.catalog, ranking[1])
    return render_template(
        "overview.html",
        ov=views.overview(rt, ranking, latest),
        cp=cockpit.cockpit(rt, ranking[0], stars, latest),
        progress=views.department_progress(rt, ranking, latest),
        departments=list(rt.org.departments),
        ranking_rule=texts.RANKING_RULE,
        behind_rows=lambda rows: overview_rows.behind_rows(rows, department_url),
        progress_rows=lambda rows: overview_rows.progress_rows(
            rows,
            department_url,
            lambda d: url_for("admin.submissions", department=d),
            local_time,
        ),
    )


@bp.get("/admin/campaigns")
def campaigns():
    """The deployment admin's page: every campaign with its progress and archived state."""
    rt = base_runtime()
    rows = []
    for cid in rt.campaign_ids():
        crt = rt.for_campaign(cid)
        if crt is None:
            continue
        totals = views.totals(crt)
        rows.append(
            {
                "id": cid,
                "title": campaign_title(crt),
                "default": cid == rt.campaign_id,
                "archived": crt.is_archived,
                "departments": len(crt.assigned_departments()),
                "indicators": len(crt.catalog.indicators),
                "totals": totals,
                "submitted": len(crt.store.submissions.latest()),
                "url": url_for("admin.overview", cid=_campaign_cid(cid)),
                "own_admin": bool(campaign_password(crt)),
            }
        )
    return render_template("campaigns.html", rows=rows)


@bp.get("/admin/departments/<name>")
def department(name: str):
    """One department: standing, liaisons and chats, items by status, 报送, activity, 催办."""
    rt = runtime()
    if name not in rt.assigned_departments():
        abort(404, description=f"没有找到部门「{name}」，请从总览的部门列表中选择。")
    return render_template(
        "department.html",
        d=cockpit.department(rt, name, rt.settings.remind_cooldown_min * 60),
        who=views.person_namer(rt),
    )


@bp.get("/admin/matrix")
def matrix():
    rt = runtime()
    focus = request.args.get("focus", "")
    f = {
        "level1": request.args.get("level1", ""),
        "lead": request.args.get("lead", ""),
        "status": request.args.get("status", ""),
        "overdue": request.args.get("overdue", "") == "1",
    }
    if f["status"] and f["status"] not in {s.value for s in Status}:
        f["status"] = ""
    m = views.matrix(rt, **f)
    kept = {k: v for k, v in request.args.items() if k in f and v}  # the filters, for links
    return render_template(
        "matrix.html",
        m=m,
        f=f,
        level1s=views.level1_groups(rt),
        leads=views.lead_departments(rt),
        focus=focus if focus in rt.org.departments else "",
        # Past this many departments the phone list holds only the focused one's items; the
        # others are links that open theirs (the page would otherwise repeat the whole matrix).
        list_all=len(m["rows"]) <= MATRIX_LIST_ALL,
        focus_base=url_for("admin.matrix", **kept, focus=""),
        matrix_body=lambda rows, base, focus: matrix_table.body(rows, base, focus, _anchor),
        matrix_items=matrix_table.items,
    )


@bp.get("/admin/rectification")
def rectification():
    """The ★ items apart: each responsible unit's state and its 整改说明."""
    return render_template("rectification.html", items=views.rectification(runtime()))


@bp.get("/admin/submissions")
def submissions():
    """Who has submitted (报送), every version with its files and mail state, then who has not."""
    rt = runtime()
    departments = rt.assigned_departments()
    department = request.args.get("department", "")
    if department not in departments:
        department = ""
    return render_template(
        "submissions.html",
        data=views.submissions(rt, department),
        departments=departments,
        department=department,
        who=views.person_namer(rt),
    )


@bp.get("/admin/indicators/<int:ind_id>")
def indicator(ind_id: int):
    rt = runtime()
    ind = rt.catalog.get(ind_id)
    if ind is None:
        abort(404, description=f"编号 {ind_id} 不存在。")
    history = recent_history(rt, 200, indicator=ind_id)
    d = views.indicator_detail(rt, ind)
    threads = rt.store.comments.threads((ind_id, a["department"]) for a in d["assignments"])
    who = views.person_namer(rt)
    urls = indicator_cards.Urls(
        review=url_for("admin.review", ind_id=ind_id),
        comment=url_for("admin.comment", ind_id=ind_id),
        page=url_for("admin.indicator", ind_id=ind_id),
        file=lambda sha256, name: url_for("admin.stored_file", sha256=sha256, name=name),
    )
    # Back from a 通过/退回/留言 on a card (?land=its anchor): its outcome is told in that card.
    land = request.args.get("land", "")
    if land not in {_anchor(a["department"]) for a in d["assignments"]}:
        land = ""
    messages = get_flashed_messages(with_categories=True) if land else []
    return render_template(
        "indicator.html",
        d=d,
        unit_cards=indicator_cards.cards(
            d, threads, urls, who, _anchor, local_time, csrf_token(), land, messages
        ),
        land=land,
        history=history,
        history_rows=indicator_cards.history_rows(
            [views.audit_dict(e) for e in history], who, local_time
        ),
        prev_id=ind_id - 1 if rt.catalog.get(ind_id - 1) else None,
        next_id=ind_id + 1 if rt.catalog.get(ind_id + 1) else None,
        who=who,
    )


@bp.get("/admin/files/<sha256>")
def stored_file(sha256: str):
    """A stored file (an upload, or a file sent in chat), as it was kept, under the name its
    material gives it (`name`)."""
    from urllib.parse import quote

    from flask import Response

    from bot import filestore

    data = runtime().services.files.get(sha256)
    if data is None:
        abort(404, description="没有这个文件。")
    try:
        name = filestore.check_name(request.args.get("name", ""))
    except filestore.FileRefused:
        name = sha256[:12]
    kind = filestore.sniff(data)
    resp = Response(data, mimetype=filestore.KINDS[kind][1] if kind else "application/octet-stream")
    resp.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return resp


@bp.post("/admin/indicators/<int:ind_id>/review")
def review(ind_id: int):
    """通过 and 退回 from the page: the rules chat applies (bot.office), the department name as
    chosen in the form, never spelled into a command."""
    rt = runtime()
    department = request.form.get("department", "")
    if department not in rt.org.departments:
        abort(400, description="请选择部门。")
    action = request.form.get("action", "")
    try:
        if action == "approve":
            confirmed = request.form.get("confirm") == "1"
            try:
                out = office.approve(rt, ind_id, department, confirmed=confirmed, actor=WEB_ACTOR)
            except rules.NeedsConfirmation as e:
                # Anything but 已完成 is approved only after a second look (通过 … 确认 in chat).
                return render_template(
                    "confirm_approve.html", ind_id=ind_id, department=department, doubt=e.doubt
                )
        elif action == "return":
            reason = request.form.get("reason", "").strip()  # kept as typed, as in chat
            if not reason:
                flash("退回时请写明原因。", "error")
                return redirect(_review_anchor(ind_id, department))
            try:
                day = request.form.get("rework", "").strip()
                rework = date.fromisoformat(day) if day else None
            except ValueError:
                flash("返工期限的日期无法识别，请重新选择。", "error")
                return redirect(_review_anchor(ind_id, department))
            out = office.return_item(rt, ind_id, department, reason, actor=WEB_ACTOR, rework=rework)
        else:
            abort(400, description="未知的审核操作。")
        flash(out.message, "info")
    except UserError as e:
        flash(str(e), "info")
    return redirect(_review_anchor(ind_id, department))


def _review_anchor(ind_id: int, department: str) -> str:
    """The department's card on the indicator page, where the outcome is then told."""
    anc = _anchor(department)
    return url_for("admin.indicator", ind_id=ind_id, land=anc, _anchor=f"u-{anc}")


@functools.lru_cache(maxsize=20_000)
def _anchor(department: str) -> str:
    return hashlib.sha1(department.encode()).hexdigest()[:10]  # an ASCII id for the anchor


bp.add_app_template_filter(_anchor, "anchor")

_DEPARTMENT_URLS: dict[tuple[str, str, str], str] = {}  # (root, campaign, name) -> its path


def department_url(name: str) -> str:
    """url_for("admin.department", name=name), built once per name: the overview links every
    department twice, and quoting a name costs more than the rest of its row."""
    key = (request.script_root, g.get("cid") or "", name)
    url = _DEPARTMENT_URLS.get(key)
    if url is None:
        if len(_DEPARTMENT_URLS) > 20_000:  # names of another data file
            _DEPARTMENT_URLS.clear()
        url = _DEPARTMENT_URLS[key] = url_for("admin.department", name=name)
    return url


bp.add_app_template_global(department_url, "department_url")
bp.add_app_template_filter(texts.link_problem, "link_problem")


# --- 待审核 ------------------------------------------------------------------------------------


def _queue_filters() -> tuple[int | None, str]:
    """The queue's filters as asked (form or query), an unknown one dropped."""
    rt = runtime()
    raw = (request.form.get("indicator") or request.args.get("indicator", "")).strip()
    ind = int(raw) if raw.isdigit() and rt.catalog.get(int(raw)) else None
    dept = request.form.get("department") or request.args.get("department", "")
    return ind, dept if dept in rt.org.departments else ""


def _queue_url(ind: int | None, dept: str) -> str:
    args = {k: v for k, v in (("indicator", ind), ("department", dept)) if v}
    return url_for("admin.queue_page", **args)


@bp.get("/admin/review")
def queue_page():
    """待审核: items marked 已完成 and not yet reviewed, oldest first, evidence inline."""
    rt = runtime()
    ind, dept = _queue_filters()
    return render_template(
        "review.html",
        q=review_queue.queue(rt, ind, dept),
        f={"indicator": ind, "department": dept},
        today=views.local_today(rt).isoformat(),
        who=views.person_namer(rt),
    )


@bp.post("/admin/review")
def queue_act():
    """通过 or 退回 the ticked rows (or the one row whose button was pressed), each through
    bot.office as a single review; the outcome is flashed at the top of the queue."""
    rt = runtime()
    ind, dept = _queue_filters()
    back = redirect(_queue_url(ind, dept))
    action = request.form.get("action", "")
    if action not in ("approve", "return"):
        abort(400, description="未知的审核操作。")
    picked = request.form.getlist("item")
    keys = [k for k in map(review_queue.parse_key, picked) if k is not None]
    if not keys or len(keys) != len(picked):
        flash(
            "请先勾选要审核的事项。" if not picked else "所选事项无法识别，请刷新页面后重试。",
            "error",
        )
        return back
    reason, rework = "", None
    if action == "return":
        reason = request.form.get("reason", "").strip()  # kept as typed, as in chat
        if not reason:
            flash("退回时请写明原因，本次没有退回任何事项。", "error")
            return back
        day = request.form.get("rework", "").strip()
        if day:
            try:
                rework = date.fromisoformat(day)
            except ValueError:
                flash("返工期限的日期无法识别，请重新选择，本次没有退回任何事项。", "error")
                return back
    try:
        out = review_queue.act(rt, action, keys, reason=reason, rework=rework, actor=WEB_ACTOR)
    except UserError as e:
        flash(str(e), "error")
        return back
    if out.done:
        verb = "通过" if action == "approve" else "退回"
        head = (
            f"已{verb} {len(out.done)} 项，已通知相关部门。" if len(out.done) > 1 else out.done[0]
        )
        flash(head, "ok")
    for why in out.refused:
        flash(why, "error")
    return back


# --- 绑定 ------------------------------------------------------------------------------------


@bp.get("/admin/bindings")
def bindings():
    """Who is bound where, since when, by whom; 解绑; the 绑定 requests to approve or refuse."""
    rt = runtime()
    return render_template("bindings.html", b=views.bindings(rt), who=views.person_namer(rt))


def _person_of() -> tuple[str, str]:
    platform, sep, user_id = request.form.get("person", "").partition(":")
    if not sep or not platform or not user_id:
        abort(400, description="没有指明是哪一位，请刷新页面后重试。")
    return platform, user_id


@bp.post("/admin/bindings/unbind")
def unbind():
    platform, user_id = _person_of()
    try:
        out = office.unbind(runtime(), platform, user_id, actor=WEB_ACTOR)
        flash(out.message, "ok" if out.changed else "info")
    except UserError as e:
        flash(str(e), "error")
    return redirect(url_for("admin.bindings"))


@bp.post("/admin/bindings/decide")
def decide_binding():
    platform, user_id = _person_of()
    action = request.form.get("action", "")
    if action not in ("approve", "refuse"):
        abort(400, description="未知的操作。")
    reason = request.form.get("reason", "").strip()  # kept as typed
    try:
        out = office.decide_binding(
            runtime(), platform, user_id, approve=action == "approve", actor=WEB_ACTOR,
            reason=reason,
        )  # fmt: skip
        flash(out.message, "ok" if out.changed else "info")
    except UserError as e:
        flash(str(e), "error")
    return redirect(url_for("admin.bindings"))


@bp.post("/admin/indicators/<int:ind_id>/comment")
def comment(ind_id: int):
    """The office's comment to a department on one item, pushed to its chat."""
    rt = runtime()
    department = request.form.get("department", "")
    if department not in rt.org.departments:
        abort(400, description="请选择部门。")
    text = request.form.get("text", "")  # kept as written, line breaks too
    try:
        flash(office.comment(rt, ind_id, department, text, actor=WEB_ACTOR).message, "ok")
    except UserError as e:
        flash(str(e), "error")
    back = request.form.get("back", "")
    if back.startswith(url_for("admin.indicator", ind_id=ind_id) + "#"):
        return redirect(_review_anchor(ind_id, department))  # told in the card
    if back.startswith("/admin") and not back.startswith("//"):
        return redirect(back)
    return redirect(_review_anchor(ind_id, department))


@bp.post("/admin/indicators/<int:ind_id>/star")
def star(ind_id: int):
    try:
        flash(office.set_star(runtime(), ind_id, None, actor=WEB_ACTOR).message, "info")
    except UserError as e:
        flash(str(e), "info")
    return redirect(url_for("admin.indicator", ind_id=ind_id))


@bp.post("/admin/inspection")
def set_inspection():
    """The day of the on-site inspection, as 查验日期 in chat (audited the same way)."""
    day = None
    if request.form.get("action") != "clear":
        try:
            day = date.fromisoformat(request.form.get("day", "").strip())
        except ValueError:
            flash("请选择查验日期。", "error")
            return redirect(url_for("admin.overview"))
    try:
        flash(office.set_inspection(runtime(), day, actor=WEB_ACTOR).message, "info")
    except UserError as e:
        flash(str(e), "info")
    return redirect(url_for("admin.overview"))


@bp.post("/admin/remind")
def remind():
    """催办 now, for one department (as chosen) or every one with open items."""
    rt = runtime()
    department = request.form.get("department", "")
    if department and department not in rt.org.departments:
        abort(400, description="没有这个部门。")
    try:
        said = remind_now(rt.store, rt.catalog, rt.calendar, timeline_of(rt),
                          rt.services.enqueue, department,
                          rt.settings.remind_cooldown_min)  # fmt: skip
        flash(said, "info")
    except UserError as e:
        flash(str(e), "info")
    return redirect(_back())


@bp.post("/admin/rank")
def rank_now():
    """Push the ranking now: the scheduled job with a slot of its own (once per minute)."""
    rt = runtime()
    now = rt.store.clock()
    if rt.calendar.is_quiet(now):  # as 催办: nobody's group is woken at night
        flash(texts.quiet_hours(rt.calendar, "推送排名"), "error")
        return redirect(_back())
    minute = rt.calendar.local_now(now).strftime("%Y-%m-%d-%H%M")
    try:
        rt.services.enqueue(
            RANKING_JOB,
            job_id=job_id("rank-now", minute),
            slot=f"now-{minute}",
            now_iso=rt.store.now_iso(),
        )
        flash("已安排立即推送排名，稍后各部门群和办公室群会收到。", "ok")
    except Exception:
        flash("排名推送未能排队，请稍后重试。", "error")
    return redirect(_back())


def _back() -> str:
    ref = request.form.get("back", "")
    return (
        ref if ref.startswith("/admin") and not ref.startswith("//") else url_for("admin.overview")
    )


# --- audit ---------------------------------------------------------------------------------

_CURSOR = re.compile(r"^\d{1,20}-\d{1,20}$")


@bp.get("/admin/audit")
def audit():
    rt = runtime()
    f = {
        "department": request.args.get("department", ""),
        "action": request.args.get("action", ""),
        "indicator": request.args.get("indicator", ""),
        "actor": request.args.get("actor", "").strip(),
    }
    before = request.args.get("before", "+")
    if before != "+" and not _CURSOR.match(before):
        before = "+"
    ind = int(f["indicator"]) if f["indicator"].isdigit() else None
    entries, cursor = rt.store.audit.page(
        count=100,
        before_id=before,
        department=f["department"],
        action=f["action"],
        indicator=ind,
        actor=views.actor_named(rt, f["actor"]),
    )
    return render_template(
        "audit.html",
        entries=[views.audit_dict(e) for e in entries],
        cursor=cursor,
        f=f,
        departments=list(rt.org.departments),
        actions=_ACTION_NAMES,
        who=views.person_namer(rt),
    )


# --- deliveries and queue health ----------------------------------------------------------


def _queues(rt) -> list[Queue]:
    return all_queues(rt.redis, rt.settings.key_prefix)


def queue_health(rt) -> dict:
    """Job counts over every queue (bot.queue), and the newest failed jobs."""
    qs = _queues(rt)
    return {
        "queued": sum(q.count for q in qs),
        "started": sum(q.started_job_registry.count for q in qs),
        "failed": sum(q.failed_job_registry.count for q in qs),
        "deferred": sum(q.deferred_job_registry.count for q in qs),
        "scheduled": sum(q.scheduled_job_registry.count for q in qs),
        "finished": sum(q.finished_job_registry.count for q in qs),
        "failed_jobs": _failed_jobs(qs),
        "unanswered": rt.store.inbox.backlog(),  # callbacks accepted, not yet answered
    }


def _failed_jobs(qs: list[Queue], limit: int = 20) -> list[dict]:
    out = []
    for q in qs:
        out += _failed_of(q, limit)
    return sorted(out, key=lambda d: d["ended_at"], reverse=True)[:limit]


def _failed_of(q: Queue, limit: int) -> list[dict]:
    out = []
    for jid in q.failed_job_registry.get_job_ids(0, limit - 1, desc=True):
        job = q.fetch_job(jid)
        if job is None:
            continue
        result = job.latest_result()
        exc = ((result.exc_string if result else "") or "").strip().splitlines()
        out.append(
            {
                "id": jid,
                "func": job.func_name,
                "label": JOB_LABELS.get(job.func_name, job.func_name),
                "ended_at": job.ended_at.isoformat(timespec="seconds") if job.ended_at else "",
                "error": exc[-1][:200] if exc else "",
            }
        )
    return out


@bp.get("/admin/deliveries")
def deliveries():
    rt = runtime()
    return render_template(
        "deliveries.html",
        dead=delivery.dead_letters(rt.store),
        health=queue_health(rt),
        unreachable=views.unreachable_departments(rt),
    )


@bp.post("/admin/deliveries/retry")
def retry_delivery():
    rt = runtime()
    entry_id = request.form.get("entry_id", "")
    try:
        delivery.retry_dead(rt.store, rt.services.enqueue, entry_id)
        flash("已重新安排投递。", "ok")
    except Exception:
        flash("重试未成功，该记录可能已被处理，请刷新查看。", "error")
    return redirect(url_for("admin.deliveries"))


@bp.post("/admin/jobs/retry")
def retry_jobs():
    """Run failed background jobs again: one (job_id) or all of them."""
    rt = runtime()
    wanted = request.form.get("job_id", "")
    n = 0
    for q in _queues(rt):
        failed = q.failed_job_registry.get_job_ids()
        for jid in [wanted] if wanted else failed:
            if jid not in failed:
                continue
            try:
                q.failed_job_registry.requeue(jid)
                n += 1
            except Exception:  # a job that vanished or was retried meanwhile is simply skipped
                continue
    if wanted and not n:
        flash("该任务已不在失败列表中，请刷新查看。", "error")
    else:
        flash(f"已重新执行 {n} 个失败任务。", "ok")
    return redirect(url_for("admin.deliveries"))


# --- exports -------------------------------------------------------------------------------


@bp.get("/admin/exports")
def exports():
    rt = runtime()
    department = request.args.get("department", "")
    return render_template(
        "exports.html",
        items=rt.store.exports.list(department or None),
        departments=list(rt.org.departments),
        department=department,
    )


@bp.post("/admin/exports/build")
def build_export():
    """Same as 导出 in chat: the files are built in the background and listed here."""
    rt = runtime()
    scope = request.form.get("scope", "")
    enqueue, now_iso = rt.services.enqueue, rt.store.now_iso()
    minute = rt.calendar.local_now(rt.store.clock()).strftime("%Y%m%d%H%M")
    if scope == "district":
        flash(request_district_export(enqueue, minute, now_iso), "info")
    elif scope == "checklist":
        flash(request_district_export(enqueue, minute, now_iso, checklist=True), "info")
    elif scope in ("department", "binder"):
        department = request.form.get("department", "")
        if department not in rt.org.departments:
            flash("请选择部门。", "error")
        else:
            said = request_department_export(
                enqueue,
                department,
                minute,
                now_iso,
                to_office=True,
                where="依法治区办群",
                binder=scope == "binder",
            )
            flash(said, "info")
    else:
        abort(400, description="未知的导出类型。")
    return redirect(url_for("admin.exports"))


_MIME = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "zip": "application/zip",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
}


@bp.get("/exports/<token>")
def download_export(token: str):
    """A file built by an export job; the random token is the only key (shared in chat too)."""
    rt = base_runtime()
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", token) or not hasattr(rt.store, "exports"):
        abort(404)
    # the token is random: it is looked for in every campaign (archived ones too)
    found = None
    for cid in rt.campaign_ids():
        crt = rt.for_campaign(cid)
        found = crt.store.exports.get(token) if crt is not None else None
        if found is not None:
            break
    if found is None:
        abort(404, description="文件不存在或已过期，请重新生成。")
    name, data = found
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "export"
    resp = Response(data, mimetype=_MIME.get(ext, "application/octet-stream"))
    resp.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    )
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


# The inspection's pages register on this blueprint (their module imports `bp` from here).
from bot.web import inspect_pages  # noqa: E402

"""What the office's pages and the sandbox share: the runtime, CSRF, security headers, filters."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from ipaddress import ip_address, ip_network

from flask import (
    Flask,
    abort,
    current_app,
    g,
    has_request_context,
    jsonify,
    render_template,
    request,
    session,
)
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from bot.runtime import Runtime
from bot.web.markup import render_markdown
from bot.web.views import is_web_url

CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"

# Everything is served from here (government intranets have no internet); no inline script.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def base_runtime() -> Runtime:
    """The process's runtime: the default campaign's view (app.extensions["duban"])."""
    return current_app.extensions["duban"]


def runtime() -> Runtime:
    """The view of the campaign this request is about (/admin/<id>/…, /api/v1/campaigns/<id>/…),
    else the default campaign's."""
    rt = g.get("campaign_rt") if has_request_context() else None
    return rt or current_app.extensions["duban"]


class CampaignConverter(BaseConverter):
    """A campaign id in a URL: [a-z0-9][a-z0-9-]{0,39}."""

    regex = r"[a-z0-9][a-z0-9-]{0,39}"


def campaign_title(rt: Runtime) -> str:
    """What a campaign is called on the pages: campaign.yaml's title, else its table's name."""
    spec = getattr(rt, "spec", None)
    return (spec.title if spec and spec.title else "") or rt.catalog.campaign.name or rt.campaign_id


def enter_campaign(cid: str | None) -> Runtime | None:
    """Make `cid` (from the URL; None = the default campaign) this request's campaign; None when
    no campaign has that id."""
    g.cid = cid
    if cid is None:
        return base_runtime()
    rt = base_runtime().for_campaign(cid)
    if rt is not None:
        g.campaign_rt = rt
    else:
        g.cid = None  # the error page's links lead to the default campaign, not here again
    return rt


def local_time(value: str) -> str:
    """A stored UTC instant ("2020-08-14T02:00:00.000Z") as local wall time "2020-08-14 10:00"."""
    if not value:
        return ""
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return runtime().calendar.local_now(at).strftime("%Y-%m-%d %H:%M")


def client_address() -> str:
    """The client's IP address. X-Forwarded-For is read only when the connection comes from a
    configured proxy (DUBAN_TRUSTED_PROXIES), right to left, skipping the trusted proxies it
    passed through; anyone else could write any address there."""
    trusted = [ip_network(p, strict=False) for p in runtime().settings.trusted_proxies]
    remote = request.remote_addr or "unknown"

    def is_trusted(addr: str) -> bool:
        try:
            ip = ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in trusted if net.version == ip.version)

    if not is_trusted(remote):
        return remote
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if not is_trusted(hop):
            try:
                return str(ip_address(hop))
            except ValueError:
                return remote  # garbage from the far side of the proxy: count on the proxy
    return remote


def csrf_token() -> str:
    token = session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def check_csrf() -> None:
    """Refuse a POST whose form field or header does not carry this session's token."""
    if request.method != "POST":
        return
    expected = session.get(CSRF_FIELD, "")
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        abort(400, description="页面已过期或请求来源不明（CSRF 校验未通过），请刷新页面后重试。")


def secure_headers(resp):
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if "text/html" in resp.headers.get("Content-Type", ""):
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def install(app: Flask) -> None:
    """Once per app: cookie flags and the template helpers used by every page."""
    if app.extensions.get("duban_web"):
        return
    app.extensions["duban_web"] = True
    app.url_map.converters["campaign"] = CampaignConverter
    settings = app.extensions["duban"].settings
    app.config["SESSION_COOKIE_NAME"] = "duban_session"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if settings.public_url.startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.json.ensure_ascii = False  # Chinese stays readable in the API's JSON
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.tests["web_url"] = is_web_url
    app.jinja_env.filters["local_time"] = local_time
    app.register_error_handler(HTTPException, _http_error)


API_PREFIX = "/api/"


def api_error(status: int, error: str, message: str, headers: dict | None = None, **more):
    resp = jsonify({"error": error, "message": message, **more})
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


_DEFAULT_TEXT = {
    400: "请求有误，请检查后重试。",
    401: "请先登录或提供有效的访问令牌。",
    403: "没有权限进行此操作。",
    404: "页面或数据不存在。",
    405: "不支持这种请求方式。",
    413: "提交的内容过大。",
    429: "操作过于频繁，请稍后再试。",
}


def _http_error(e: HTTPException):
    """JSON under /api/, a short Chinese page under /admin, /sandbox and /exports."""
    path = request.path
    if e.description == type(e).description:  # werkzeug's English default
        e.description = _DEFAULT_TEXT.get(e.code or 0, "请求未能完成。")
    if path.startswith(API_PREFIX):
        headers = {}
        if e.code == 405 and e.response is None:
            allowed = getattr(e, "valid_methods", None) or []
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        if e.code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        name = (e.name or "error").lower().replace(" ", "_")
        return api_error(e.code or 500, name, e.description or "", headers)
    if path.startswith("/m/"):  # a department's fill-in page: nothing of the office's pages
        page = render_template("fill_refused.html", title="无法完成请求", why=e.description)
        return secure_headers(current_app.make_response((page, e.code)))
    if path.startswith(("/admin", "/sandbox", "/exports")):
        resp = current_app.make_response(
            (render_template("error.html", code=e.code, message=e.description), e.code)
        )
        return secure_headers(resp)
    return e

"""Sign-in through the platform for the fill-in page (bot/signin.py): /m/signin lists the
configured platforms; /m/signin/<platform> sends the browser to the platform's authorize page
with a signed state (its nonce also kept in this browser's session); /m/signin/<platform>/done
takes the code back, learns who signed in, and redirects to the same signed link 填报 issues
(audited the same way, revoking the person's last link). Nothing is issued on any refusal.
"""

from __future__ import annotations

from types import SimpleNamespace

from flask import Blueprint, redirect, render_template, request, session

from bot import delivery, filllinks, signin
from bot.web.common import install, runtime, secure_headers

bp = Blueprint("signin", __name__, template_folder="templates", url_prefix="/m/signin")

SESSION_KEY = "signin"  # the nonce of the sign-in this browser started

# kind -> (HTTP status, title, what happened, what to do next)
REFUSED = {
    "off": (404, "未开启平台登录", "本系统没有开启通过平台登录填报页。", "fill"),
    "unknown": (404, "不支持该平台登录", "本系统没有开启通过该平台登录填报页。", "list"),
    "tampered": (
        400,
        "登录请求无效",
        "这次登录的参数不完整或被改动过，未发放填报页链接。",
        "retry",
    ),
    "expired": (410, "登录已超时", "这次登录已超过 10 分钟，未发放填报页链接。", "retry"),
    "used": (410, "登录已完成过", "这次登录已经用过，不能再次使用，未发放新的链接。", "retry"),
    "elsewhere": (
        400,
        "请在同一浏览器中完成登录",
        "这次登录不是在本浏览器中开始的，未发放填报页链接。",
        "retry",
    ),
    "denied": (403, "未授权登录", "您在平台页面上取消了授权，未发放填报页链接。", "retry"),
    "code": (400, "平台未确认您的身份", "授权码无效或已过期，未发放填报页链接。", "retry"),
    "unavailable": (502, "暂时无法登录", "暂时连不上平台，未发放填报页链接。", "retry"),
    "not_member": (
        403,
        "不是本单位成员",
        "平台没有找到您在本单位的账号，未发放填报页链接。",
        "fill",
    ),
}

_HTTP = delivery.KeepAliveSession(4)  # thread-safe, kept alive per platform host


@bp.record_once
def _setup(state) -> None:
    install(state.app)


@bp.after_request
def _headers(resp):
    # the callback's address carries the code: it must not travel on, nor be cached
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = "no-store"
    return secure_headers(resp)


def _providers() -> dict:
    return signin.providers(runtime().settings)


def _refused(kind: str, platform: str = "", detail: str = "", who=None):
    status, title, why, then = REFUSED[kind]
    if kind not in ("off", "unknown"):
        label = signin.LABELS.get(platform, platform)
        note = f"{label}登录未完成：{title}" + (f"（{detail}）" if detail else "")
        runtime().store.fill_links.audit_use(who, "signin_refused", note)
    page = render_template(
        "signin_refused.html", title=title, why=why, then=then, platform=platform,
        label=signin.LABELS.get(platform, ""),
    )  # fmt: skip
    return page, status


@bp.get("")
def choose():
    """One button per configured platform."""
    found = _providers()
    if not found:
        return _refused("off")
    return render_template("signin.html", platforms=[(p, signin.LABELS[p]) for p in found])


def _redirect_uri(platform: str) -> str:
    """Where the platform sends the browser back: register this URL in its console."""
    return f"{runtime().settings.public_url.rstrip('/')}/m/signin/{platform}/done"


@bp.get("/<platform>")
def start(platform: str):
    provider = _providers().get(platform)
    if provider is None:
        return _refused("unknown" if _providers() else "off", platform)
    rt = runtime()
    nonce = signin.new_nonce()
    session[SESSION_KEY] = nonce
    state = signin.make_state(rt.services.link_key, platform, nonce, rt.store.clock().timestamp())
    return redirect(provider.authorize_url(_redirect_uri(platform), state), code=302)


@bp.get("/<platform>/done")
def done(platform: str):
    provider = _providers().get(platform)
    if provider is None:
        return _refused("unknown" if _providers() else "off", platform)
    rt = runtime()
    query = request.args
    try:
        nonce = signin.read_state(
            rt.services.link_key, platform, query.get("state", ""),
            rt.store.clock().timestamp(),
        )  # fmt: skip
        if session.get(SESSION_KEY) != nonce:
            raise signin.Refused("elsewhere")
        # spent here, once: a reload or a copied callback address finds it used
        if not rt.store.fill_links.claim_signin(nonce, signin.STATE_TTL_S):
            raise signin.Refused("used")
        if query.get("error"):
            raise signin.Refused("denied", query.get("error", "")[:40])
        person = signin.identify(
            provider, _HTTP, _token(rt), provider.code_of(query), _redirect_uri(platform)
        )
    except signin.Refused as e:
        return _refused(e.kind, platform, e.detail)
    binding = signin.binding_of(rt.store.bindings, person)
    if binding is None:
        first = person.candidates[0]
        who = SimpleNamespace(actor=f"{first[0]}:{first[1]}", department="")
        rt.store.fill_links.audit_use(
            who, "signin_refused", f"{signin.LABELS[platform]}登录：未绑定部门"
        )
        page = render_template("signin_unbound.html", label=signin.LABELS[platform])
        return page, 403
    settings = rt.settings
    who = (binding.platform, binding.user_id, binding.name or person.name)
    url = filllinks.issue(
        rt.store, rt.services.link_key, settings.public_url, settings.fill_link_days, who,
        binding.department,
    )  # fmt: skip
    link = rt.store.fill_links.current(binding.platform, binding.user_id)
    rt.store.fill_links.audit_use(link, "fill_signin", f"经{signin.LABELS[platform]}登录")
    return redirect(url, code=303)


def _token(rt):
    """The apps' access tokens, from the cache the workers share (bot/delivery.py)."""
    return signin.app_token(
        rt.settings, _HTTP, lambda name, fetch: delivery.cached_token(rt.delivery, name, fetch)
    )

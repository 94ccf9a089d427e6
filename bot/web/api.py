"""/api/v1: the office's data as JSON for other systems, behind a bearer token.

Every response is described by bot/web/openapi.py; errors are JSON {"error", "message"}.
"""

from __future__ import annotations

import hmac
import re

from flask import Blueprint, jsonify, request

from bot.progress import Status
from bot.web import cockpit, views
from bot.web.common import api_error, install, runtime
from bot.web.openapi import ACTION_PATTERN, AUDIT_MAX_LIMIT, CURSOR_PATTERN, build_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.record_once
def _setup(state) -> None:
    install(state.app)


class BadParam(Exception):
    pass


@bp.errorhandler(BadParam)
def _bad_param(e: BadParam):
    return api_error(400, "bad_request", str(e))


@bp.before_request
def _authenticate():
    if request.endpoint == "api.openapi":
        return None
    token = runtime().settings.api_token
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not token:
        return api_error(401, "unauthorized", "API 未启用：请设置 DUBAN_API_TOKEN。",
                         {"WWW-Authenticate": "Bearer"})  # fmt: skip
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        return api_error(401, "unauthorized", "缺少或错误的访问令牌（Authorization: Bearer …）。",
                         {"WWW-Authenticate": "Bearer"})  # fmt: skip
    return None


# Query parameters each operation knows; anything else is refused so a typo is not ignored.
_PARAMS = {
    "api.indicators": {"level1", "star"},
    "api.assignments": {"department", "indicator", "status"},
    "api.audit": {"limit", "cursor", "department", "action", "indicator"},
    "api.submissions": {"department"},
}


@bp.before_request
def _known_params():
    if request.endpoint == "api.openapi" or request.endpoint is None:
        return None
    unknown = sorted(set(request.args) - _PARAMS.get(request.endpoint, set()))
    if unknown:
        return api_error(400, "bad_request", f"不认识的查询参数：{'、'.join(unknown)[:200]}")
    return None


@bp.after_request
def _headers(resp):
    resp.headers.setdefault("Cache-Control", "no-store")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    return resp


def _int_arg(name: str, lo: int, hi: int, default: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[+-]?[0-9]{1,9}", raw.strip()):
        raise BadParam(f"{name} 应为 {lo}–{hi} 之间的整数。")
    value = int(raw)
    if not lo <= value <= hi:
        raise BadParam(f"{name} 应为 {lo}–{hi} 之间的整数。")
    return value


def _department_arg() -> str:
    dept = request.args.get("department")
    if dept is None:
        return ""
    if dept not in {d for _, d in runtime().assignments}:
        raise BadParam("没有这个部门（请用 /departments 中的部门全称）。")
    return dept


@bp.get("/openapi.json")
def openapi():
    return jsonify(build_document(runtime()))


@bp.get("/overview")
def overview():
    return jsonify(views.overview(runtime()))


@bp.get("/departments")
def departments():
    return jsonify({"departments": views.department_progress(runtime())})


@bp.get("/behind")
def behind():
    """Who is behind, as the overview shows it (bot/web/cockpit.py)."""
    b = cockpit.behind(runtime())
    return jsonify(
        {"departments": b["rows"], "next": b["next"], "final": b["final"], "rule": b["rule"]}
    )


@bp.get("/indicators")
def indicators():
    rt = runtime()
    level1 = request.args.get("level1")
    star_raw = request.args.get("star")
    star = None
    if star_raw is not None:
        if star_raw not in ("true", "false"):
            raise BadParam("star 应为 true 或 false。")
        star = star_raw == "true"
    stars = views.starred(rt)
    items = [
        views.indicator_dict(rt, ind, stars)
        for ind in rt.catalog.indicators.values()
        if (level1 is None or ind.level1 == level1) and (star is None or (ind.id in stars) == star)
    ]
    return jsonify({"indicators": sorted(items, key=lambda x: x["id"])})


@bp.get("/indicators/<int(signed=True):indicator_id>")
def indicator(indicator_id: int):
    rt = runtime()
    ind = rt.catalog.get(indicator_id)
    if ind is None:
        lo, hi = rt.catalog.min_id, rt.catalog.max_id
        return api_error(404, "not_found", f"编号 {indicator_id} 不存在，指标编号为 {lo}–{hi}。")
    # 涉密 materials never leave the system: other systems see that they exist and where
    return jsonify(views.indicator_detail(rt, ind, redact=True))


@bp.get("/assignments")
def assignments():
    rt = runtime()
    department = _department_arg()
    ind = _int_arg("indicator", rt.catalog.min_id, rt.catalog.max_id)
    status = request.args.get("status")
    if status is not None and status not in {s.value for s in Status}:
        raise BadParam("status 取值：" + "、".join(s.value for s in Status))
    items = views.assignments(
        rt, department=department, indicator=ind, status=status or "", redact=True
    )
    return jsonify({"assignments": items})


@bp.get("/audit")
def audit():
    rt = runtime()
    limit = _int_arg("limit", 1, AUDIT_MAX_LIMIT, default=100)
    cursor = request.args.get("cursor")
    if cursor is not None and not re.fullmatch(CURSOR_PATTERN, cursor):
        raise BadParam("cursor 应为上一页返回的 next_cursor。")
    action = request.args.get("action")
    if action is not None and not re.fullmatch(ACTION_PATTERN, action):
        raise BadParam("action 应为小写英文操作名，例如 submit、approve。")
    department = _department_arg()
    ind = _int_arg("indicator", rt.catalog.min_id, rt.catalog.max_id)
    if cursor is not None and re.fullmatch(r"0+-0+", cursor):
        return jsonify({"items": [], "next_cursor": None})
    entries, nxt = rt.store.audit_page(
        count=limit,
        before_id=cursor or "+",
        department=department,
        action=action or "",
        indicator=ind,
    )
    return jsonify({"items": [views.audit_dict(e) for e in entries], "next_cursor": nxt or None})


@bp.get("/submissions")
def submissions():
    rt = runtime()
    return jsonify(views.submissions(rt, department=_department_arg()))

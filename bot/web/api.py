"""/api/v1: the office's data as JSON for other systems, and its review, behind a bearer token.

Requests and responses are checked with the models of bot/web/schemas.py, from which
bot/web/openapi.py generates the document; errors are JSON {"error", "message"}. Writes take a
JSON body and act through bot.office as the office's pages do, audited as actor `api:token`.
"""

from __future__ import annotations

import hmac
import re
from datetime import date
from typing import Any

from flask import Blueprint, g, jsonify, request
from pydantic import BaseModel, ValidationError

from bot import office, rules
from bot.errors import UserError
from bot.progress import Status
from bot.rules import MAX_REASON
from bot.web import cockpit, schemas, views
from bot.web.common import api_error, base_runtime, campaign_title, enter_campaign, install, runtime
from bot.web.openapi import build_document, campaign_document, query_models
from bot.web.schemas import AUDIT_MAX_LIMIT

# Registered twice (app.py): at /api/v1 (the default campaign, as before campaigns) and at
# CAMPAIGN_PREFIX (one campaign), with the same views.
bp = Blueprint("api", __name__, url_prefix="/api/v1")
CAMPAIGN_PREFIX = "/api/v1/campaigns/<campaign:cid>"
CAMPAIGN_NAME = "api_campaign"
API_ACTOR = "api:token"  # whoever holds DUBAN_API_TOKEN, in the audit log
WRITES = frozenset({"PATCH", "POST", "PUT", "DELETE"})


def register(app) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(bp, url_prefix=CAMPAIGN_PREFIX, name=CAMPAIGN_NAME)


@bp.record_once
def _setup(state) -> None:
    install(state.app)


class BadParam(Exception):
    pass


class Unsupported(Exception):
    pass


@bp.errorhandler(BadParam)
def _bad_param(e: BadParam):
    return api_error(400, "bad_request", str(e))


@bp.errorhandler(Unsupported)
def _unsupported(e: Unsupported):
    return api_error(415, "unsupported_media_type", str(e))


@bp.url_value_preprocessor
def _campaign_of_url(endpoint, values) -> None:
    g.cid = values.pop("cid", None) if values else None


@bp.before_request
def _authenticate():
    refused = _check_token()
    if refused is not None:
        return refused
    cid = g.get("cid")
    if enter_campaign(cid) is None:
        known = base_runtime().campaign_ids()
        msg = f"没有督办活动「{cid}」。现有的活动编号：{'、'.join(known)}。"
        return api_error(404, "unknown_campaign", msg, campaigns=known)
    rt = runtime()
    if request.method in WRITES and rt.is_archived:
        return api_error(
            409, "archived", f"督办活动「{campaign_title(rt)}」已归档，只能读取，不能修改。"
        )
    return None


def _check_token():
    if str(request.endpoint).endswith(".openapi"):
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


@bp.after_request
def _headers(resp):
    resp.headers.setdefault("Cache-Control", "no-store")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    return resp


def _hint(rt, field: str, in_body: bool) -> str:
    """What a bad value of `field` should have been, in the API's words."""
    lo, hi = rt.catalog.min_id, rt.catalog.max_id
    if in_body and field == "action":
        return "action 应为 approve（通过）或 return（退回）。"
    return {
        "limit": f"limit 应为 1–{AUDIT_MAX_LIMIT} 之间的整数。",
        "indicator": f"indicator 应为 {lo}–{hi} 之间的整数。",
        "cursor": "cursor 应为上一页返回的 next_cursor。",
        "action": "action 应为小写英文操作名，例如 submit、approve。",
        "department": "没有这个部门（请用 /departments 中的部门全称）。",
        "status": "status 取值：" + "、".join(st.value for st in Status),
        "star": "star 应为 true 或 false。",
        "starred": "starred 应为 true 或 false。",
        "confirm": "confirm 应为 true 或 false。",
        "reason": f"reason 应为文字，最多 {MAX_REASON} 字。",
    }.get(field, f"{field} 取值不正确。")


def _validated(model: type[BaseModel], data: Any, where: str):
    """`data` checked by `model` (the schema the OpenAPI document shows), or BadParam."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        extra = [str(x["loc"][0]) for x in errors if x["type"] == "extra_forbidden"]
        if extra:
            raise BadParam(f"不认识的{where}：{'、'.join(extra)[:200]}") from None
        first = errors[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        if first["type"] == "missing":
            raise BadParam(f"缺少 {field}。") from None
        if not field:
            raise BadParam("请求体应为 JSON 对象。") from None
        raise BadParam(_hint(runtime(), field, where == "字段")) from None


def _query(name: str):
    return _validated(query_models(runtime())[name], request.args.to_dict(), "查询参数")


def _no_query() -> None:
    if request.args:
        raise BadParam(f"不认识的查询参数：{'、'.join(sorted(request.args))[:200]}")


def _body(model: type[BaseModel]):
    """The JSON body: a form or text/plain is refused, so no page elsewhere can send one
    (and the bearer token, never a cookie, is what authenticates)."""
    _no_query()
    if not request.is_json:
        raise Unsupported("请求体须为 JSON（Content-Type: application/json）。")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadParam("请求体应为 JSON 对象。")
    return _validated(model, data, "字段")


def _reply(model: type[BaseModel], data: dict):
    """The response, checked against the model the document describes it with."""
    return jsonify(model.model_validate(data).model_dump(mode="json"))


@bp.get("/openapi.json")
def openapi():
    """/api/v1/openapi.json: the default campaign's paths and every campaign's under
    /campaigns/{campaign_id}; /api/v1/campaigns/<id>/openapi.json: that campaign's alone."""
    if g.get("cid") is None:
        return jsonify(build_document(runtime()))
    return jsonify(campaign_document(runtime()))


@bp.get("/overview")
def overview():
    _no_query()
    return _reply(schemas.Overview, views.overview(runtime()))


@bp.get("/departments")
def departments():
    _no_query()
    return _reply(schemas.Departments, {"departments": views.department_progress(runtime())})


@bp.get("/behind")
def behind():
    """Who is behind, as the overview shows it (bot/web/cockpit.py)."""
    _no_query()
    b = cockpit.behind(runtime())
    body = {"departments": b["rows"], "next": b["next"], "final": b["final"], "rule": b["rule"]}
    return _reply(schemas.BehindList, body)


@bp.get("/indicators")
def indicators():
    rt = runtime()
    q = _query("IndicatorsQuery")
    stars = views.starred(rt)
    items = [
        views.indicator_dict(rt, ind, stars)
        for ind in rt.catalog.indicators.values()
        if (q.level1 is None or ind.level1 == q.level1)
        and (q.star is None or (ind.id in stars) == q.star)
    ]
    return _reply(schemas.Indicators, {"indicators": sorted(items, key=lambda x: x["id"])})


def _indicator_or_404(rt, indicator_id: int):
    ind = rt.catalog.get(indicator_id)
    if ind is None:
        lo, hi = rt.catalog.min_id, rt.catalog.max_id
        msg = f"编号 {indicator_id} 不存在，指标编号为 {lo}–{hi}。"
        return None, api_error(404, "not_found", msg)
    return ind, None


@bp.get("/indicators/<int(signed=True):indicator_id>")
def indicator(indicator_id: int):
    _no_query()
    rt = runtime()
    ind, missing = _indicator_or_404(rt, indicator_id)
    if missing:
        return missing
    # 涉密 materials never leave the system: other systems see that they exist and where
    return _reply(schemas.IndicatorDetail, views.indicator_detail(rt, ind, redact=True))


@bp.patch("/indicators/<int(signed=True):indicator_id>")
def star_indicator(indicator_id: int):
    """★ on or off, as 星标 in chat; asking for the ★ it already has changes nothing."""
    rt = runtime()
    body = _body(schemas.StarRequest)
    ind, missing = _indicator_or_404(rt, indicator_id)
    if missing:
        return missing
    try:
        out = office.set_star(rt, ind.id, body.starred, actor=API_ACTOR)
    except office.Busy as e:
        return api_error(503, "busy", str(e))
    return _reply(
        schemas.StarResult, {"changed": out.changed, "message": out.message, "starred": out.starred}
    )


@bp.get("/assignments")
def assignments():
    rt = runtime()
    q = _query("AssignmentsQuery")
    items = views.assignments(
        rt,
        department=q.department or "",
        indicator=q.indicator,
        status=q.status or "",
        redact=True,
    )
    return _reply(schemas.Assignments, {"assignments": items})


@bp.patch("/assignments")
def review_assignment():
    """通过 or 退回 one assignment, as the office does in chat or on its pages: the same rules,
    notices and audit entries. A repeated approval, or a return for the same reason, answers
    200 with changed: false, so a client may retry safely."""
    rt = runtime()
    body = _body(query_models(rt)["ReviewRequest"])
    try:
        if body.action == "approve":
            out = office.approve(rt, body.indicator, body.department, confirmed=body.confirm,
                                 actor=API_ACTOR)  # fmt: skip
        else:
            # kept as written but for the spaces around it, as from chat and the pages; a
            # blank one is the rules' refusal (409), since the schema allows "" for approve
            reason = body.reason.strip()
            try:
                rework = date.fromisoformat(body.rework) if body.rework else None
            except ValueError:
                return api_error(400, "bad_request", "rework 应为 YYYY-MM-DD 格式的日期。")
            out = office.return_item(
                rt, body.indicator, body.department, reason, actor=API_ACTOR, rework=rework
            )
    except rules.NeedsConfirmation as e:
        msg = f"{body.department}第{body.indicator}项{e.doubt}。确认要通过请带上 confirm: true。"
        return api_error(409, "needs_confirmation", msg)
    except office.NotFound as e:
        return api_error(404, "not_found", str(e))
    except office.Busy as e:
        return api_error(503, "busy", str(e))
    except UserError as e:
        return api_error(409, "refused", str(e))
    a = out.assignment
    links = rt.store.links.states(m.url for m in a.materials if m.url)
    detail = views.assignment_dict(a, links, rt.catalog.get(a.indicator_id), redact=True)
    return _reply(
        schemas.ReviewResult,
        {"changed": out.changed, "message": out.message, "assignment": detail},
    )


@bp.get("/audit")
def audit():
    rt = runtime()
    q = _query("AuditQuery")
    if q.cursor is not None and re.fullmatch(r"0+-0+", q.cursor):
        return _reply(schemas.AuditPage, {"items": [], "next_cursor": None})
    entries, nxt = rt.store.audit.page(
        count=q.limit,
        before_id=q.cursor or "+",
        department=q.department or "",
        action=q.action or "",
        indicator=q.indicator,
    )
    page = {"items": [views.audit_dict(e) for e in entries], "next_cursor": nxt or None}
    return _reply(schemas.AuditPage, page)


@bp.get("/submissions")
def submissions():
    rt = runtime()
    q = _query("SubmissionsQuery")
    return _reply(schemas.Submissions, views.submissions(rt, department=q.department or ""))

"""The OpenAPI 3.1 document of /api/v1, generated from the pydantic models the API validates
its requests and responses with (bot/web/schemas.py): nothing here restates a field.

Department names, statuses and the indicator range come from the running data, so the document
also tells a client which filter values exist. tests/http/test_api_schema.py runs schemathesis
against it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bot.runtime import Runtime
from bot.web import schemas as s

REF = "#/components/schemas/{model}"


def query_models(rt: Runtime) -> dict[str, type[BaseModel]]:
    departments = tuple(dict.fromkeys(d for _, d in rt.assignments))
    return s.api_models(departments, rt.catalog.min_id, rt.catalog.max_id)


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _not_null(prop: dict) -> dict:
    """A query parameter is absent or a value, never null: drop the null of an optional one."""
    options = [o for o in prop.get("anyOf", ()) if o.get("type") != "null"]
    if len(options) != 1:
        return prop
    rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    return {**options[0], **rest}


def _parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema(ref_template=REF)
    out = []
    for name, prop in schema["properties"].items():
        prop = _not_null(prop)
        description = prop.pop("description", "")
        prop.pop("title", None)
        out.append({"name": name, "in": "query", "required": False, "schema": prop,
                    "description": description})  # fmt: skip
    return out


def _operations(q: dict[str, type[BaseModel]], inline: bool = False) -> dict:
    """The paths of one campaign's API from its request models; `inline`: the request body's
    schema written out (another campaign's values) instead of a reference to the component."""
    error = _ref(s.Error)
    errors = {
        "400": _json(error, "a bad query parameter or body"),
        "401": {
            **_json(error, "missing or wrong bearer token"),
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        },
    }

    def op(op_id: str, summary: str, ok: type[BaseModel], **extra: Any) -> dict:
        out = {
            "operationId": op_id,
            "summary": summary,
            "responses": {"200": _json(_ref(ok), "OK"), **errors, **extra.pop("more", {})},
        }
        return out | extra

    def get(op_id: str, summary: str, ok: type[BaseModel], query: str = "", **extra: Any) -> dict:
        if query:
            extra["parameters"] = _parameters(q[query])
        return op(op_id, summary, ok, **extra)

    def write(op_id: str, summary: str, ok: type[BaseModel], body: type[BaseModel], more: dict):
        schema = body.model_json_schema(ref_template=REF) if inline else _ref(body)
        request = {"required": True, **_json(schema, "JSON")}
        request.pop("description")
        more = {k: _json(error, v) for k, v in more.items()}
        more["415"] = _json(error, "the body is not JSON (Content-Type: application/json)")
        return op(op_id, summary, ok, requestBody=request, more=more)

    return {
        "/overview": {
            "get": get(
                "getOverview", "全区总览：活动信息、截止日期与剩余天数、各状态数量", s.Overview
            )
        },
        "/departments": {"get": get("listDepartments", "各部门进度（按排名）", s.Departments)},
        "/behind": {
            "get": get(
                "listBehind",
                "谁落后：各部门按落后分从高到低（并列同名次），对照下一截止日",
                s.BehindList,
            )
        },
        "/indicators": {
            "get": get("listIndicators", "全部指标及责任单位", s.Indicators, "IndicatorsQuery")
        },
        "/indicators/{indicator_id}": {
            "parameters": [
                {
                    "name": "indicator_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer"},
                }
            ],  # fmt: skip
            "get": get(
                "getIndicator",
                "单个指标全文，含各责任单位的状态、材料与链接检查结果",
                s.IndicatorDetail,
                more={"404": _json(error, "no such item")},
            ),
            "patch": write(
                "starIndicator",
                "标记或取消★整改项（与聊天中的「星标」相同；重复请求不再改动）",
                s.StarResult,
                s.StarRequest,
                {"404": "no such indicator", "409": "the campaign is archived (error: archived)"},
            ),
        },
        "/assignments": {
            "get": get(
                "listAssignments",
                "任务（指标×部门），可按部门、指标、状态筛选",
                s.Assignments,
                "AssignmentsQuery",
            ),
            "patch": write(
                "reviewAssignment",
                "审核一项任务：通过或退回（与聊天中的「通过」「退回」相同，部门会收到通知；"
                "重复的通过、同样原因的退回不再改动）",
                s.ReviewResult,
                q["ReviewRequest"],
                {
                    "404": "the department is not responsible for the indicator",
                    "409": "refused by the rules (error: refused), an approval that needs "
                    "confirm: true (error: needs_confirmation; message says why), or an "
                    "archived campaign (error: archived)",
                },
            ),
        },
        "/audit": {
            "get": get(
                "listAudit", "操作日志，最新在前；用 next_cursor 翻页", s.AuditPage, "AuditQuery"
            )
        },
        "/submissions": {
            "get": get(
                "listSubmissions",
                "各部门报送情况：每一版的时间、报送人、定稿文件和邮件状态，以及未报送的部门",
                s.Submissions,
                "SubmissionsQuery",
            )
        },
    }


def _in_campaigns(rt: Runtime) -> dict:
    """Every campaign's operations under /campaigns/<id>/…, each with that campaign's own
    filter values (departments, indicator numbers) and operation ids of its own."""
    out = {}
    for cid in rt.campaign_ids():
        view = rt.for_campaign(cid)
        if view is None:
            continue
        suffix = "_" + cid.replace("-", "_")
        for path, item in _operations(query_models(view), inline=True).items():
            item = {
                k: ({**v, "operationId": v["operationId"] + suffix} if k != "parameters" else v)
                for k, v in item.items()
            }
            out[f"/campaigns/{cid}{path}"] = item
    return out


def _document(rt: Runtime, paths: dict, server: str, title: str) -> dict:
    q = query_models(rt)
    responses = [
        s.Error, s.CampaignError, s.Overview, s.Departments, s.BehindList, s.Indicators,
        s.IndicatorDetail, s.Assignments, s.AuditPage, s.Submissions, s.ReviewResult,
        s.StarResult,
    ]  # fmt: skip
    _, top = models_json_schema(
        [(m, "serialization") for m in responses]
        + [(q["ReviewRequest"], "validation"), (s.StarRequest, "validation")],
        ref_template=REF,
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "1.2.0",
            "description": (
                "依法治区办示范创建督办数据的接口：读取进度，审核任务，标记★项。每个请求都需带上 "
                "`Authorization: Bearer <DUBAN_API_TOKEN>`；写操作的请求体为 JSON，"
                "记入操作日志（操作人 api:token）。不带活动编号的路径是默认活动；"
                "`/campaigns/<活动编号>/…` 是各个督办活动（已归档的活动只能读取，写操作答 409；"
                "不存在的活动编号答 404，error 为 unknown_campaign，并列出现有的编号）。"
            ),
        },
        "servers": [{"url": server}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": top["$defs"],
        },
        "paths": paths,
    }


def build_document(rt: Runtime) -> dict:
    """/api/v1/openapi.json: the default campaign's paths as before campaigns, and every
    campaign's under /campaigns/<id>/… (an unknown id answers 404 error: unknown_campaign,
    schema CampaignError)."""
    paths = _operations(query_models(rt)) | _in_campaigns(rt)
    return _document(rt, paths, "/api/v1", "督办 Duban API")


def campaign_document(rt: Runtime) -> dict:
    """/api/v1/campaigns/<id>/openapi.json: one campaign's API, with its own filter values."""
    title = f"督办 Duban API · {rt.campaign_id}"
    return _document(
        rt, _operations(query_models(rt)), f"/api/v1/campaigns/{rt.campaign_id}", title
    )

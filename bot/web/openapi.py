"""The OpenAPI 3 document of /api/v1, written by hand to match every response exactly.

Department names, statuses and the indicator range come from the running data, so the document
also tells a client which filter values exist. tests/http/test_api_schema.py runs schemathesis
against it.
"""

from __future__ import annotations

from bot.progress import Role, Status
from bot.runtime import Runtime
from bot.web.views import ACTION_LABELS, MAIL_LABELS

AUDIT_MAX_LIMIT = 500
CURSOR_PATTERN = r"^[0-9]{1,19}-[0-9]{1,19}$"
ACTION_PATTERN = r"^[a-z_]{1,40}$"


def _obj(props: dict, nullable: bool = False) -> dict:
    out = {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }
    if nullable:
        out["nullable"] = True
    return out


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
NULL_STR = {"type": "string", "nullable": True}
NULL_INT = {"type": "integer", "nullable": True}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _list(item: dict) -> dict:
    return {"type": "array", "items": item}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def build_document(rt: Runtime) -> dict:
    departments = list(dict.fromkeys(d for _, d in rt.assignments)) or [""]
    statuses = [s.value for s in Status]
    lo, hi = rt.catalog.min_id, rt.catalog.max_id
    by_status = _obj({s: {"type": "integer", "minimum": 0} for s in statuses})

    deadline = {
        "key": STR,
        "name": STR,
        "date": {"type": "string", "format": "date"},
        "days_left": {**INT, "description": "calendar days; negative once passed"},
        "workdays_left": {**INT, "description": "working days; negative once passed"},
        "passed": BOOL,
    }
    schemas = {
        "Error": _obj(
            {"error": STR, "message": STR},
        ),
        "ByStatus": by_status,
        "Deadline": _obj(deadline),
        "NextDeadline": _obj(deadline, nullable=True),  # null: every deadline has passed
        "Event": _obj(
            {
                "key": STR,
                "name": STR,
                "title": STR,
                "window_start": {"type": "string", "format": "date"},
                "window_end": {"type": "string", "format": "date"},
                "date": {
                    "type": "string",
                    "format": "date",
                    "nullable": True,
                    "description": "具体日期（依法治区办设置后才有）",
                },
                "when": {**STR, "description": "如「9月（具体日期待定）」"},
                "days_left": NULL_INT,
                "workdays_left": NULL_INT,
                "passed": BOOL,
                "started": BOOL,
            }
        ),
        "Overview": _obj(
            {
                "campaign": _obj(
                    {
                        "name": STR,
                        "document": STR,
                        "issued_by": STR,
                        "issued_on": {"type": "string", "format": "date"},
                        "submit_to": STR,
                    }
                ),
                "today": {"type": "string", "format": "date"},
                "phase": {
                    "type": "string",
                    "enum": ["running", "readiness", "ended"],
                    "description": "报送阶段 / 截止后准备查验 / 活动已结束",
                },
                "stage": {**STR, "description": "当前阶段的一句话说明"},
                "deadlines": _list(_ref("Deadline")),
                "events": {**_list(_ref("Event")), "description": "实地查验等事项（不是截止日期）"},
                "bonus": {
                    **_list(_obj({"department": STR, "indicators": _list(INT)})),
                    "description": "已提交加分项材料的部门（不计入排名）",
                },
                "totals": _obj(
                    {
                        "assignments": INT,
                        "complete": INT,
                        "percent": {"type": "integer", "minimum": 0, "maximum": 100},
                        "by_status": _ref("ByStatus"),
                    }
                ),
                "indicators": INT,
                "departments": INT,
                "submitted_departments": {**INT, "description": "已报送（至少一版）的部门数"},
            }
        ),
        "DepartmentProgress": _obj(
            {
                "rank": {"type": "integer", "minimum": 1},
                "last_rank": NULL_INT,
                "department": STR,
                "percent": {"type": "integer", "minimum": 0, "maximum": 100},
                "done_weight": INT,
                "total_weight": INT,
                "done_count": INT,
                "total_count": INT,
                "lead_count": INT,
                "by_status": _ref("ByStatus"),
                "reached_at": NULL_STR,
                "submission": _ref("LatestSubmission"),  # null: not submitted yet
            }
        ),
        "Behind": _obj(
            {
                "rank": {"type": "integer", "minimum": 1},
                "department": STR,
                "points": {**INT, "description": "落后分：越高越落后（规则见 rule）"},
                "reasons": _list(STR),
                "open_count": INT,
                "total_count": INT,
                "returned": INT,
                "dead_links": INT,
                "idle_days": {**INT, "description": "连续无操作天数"},
                "liaisons": INT,
                "bound": {**INT, "description": "已绑定人数"},
                "per_workday": {**STR, "description": "按期完成每个工作日需完成的项数（文字）"},
            }
        ),
        "LatestSubmission": _obj(
            {"version": {"type": "integer", "minimum": 1}, "at": STR}, nullable=True
        ),
        "SubmissionFile": _obj(
            {
                "kind": {"type": "string", "enum": ["xlsx", "docx"]},
                "name": STR,
                "token": STR,
                "url": {**STR, "description": "下载地址（/exports/<token>，无需登录）"},
            }
        ),
        "Submission": _obj(
            {
                "version": {"type": "integer", "minimum": 1},
                "at": {**STR, "description": "报送时间（UTC）"},
                "actor": {**STR, "description": "报送人（平台:用户）"},
                "files": {
                    **_list(_ref("SubmissionFile")),
                    "description": "定稿文件；生成前为空",
                },
                "mail": {
                    "type": "string",
                    "nullable": True,
                    "enum": [*MAIL_LABELS, None],
                    "description": "邮件状态；定稿文件生成前为 null",
                },
                "mail_label": STR,
                "mailed_at": NULL_STR,
                "mailed_to": NULL_STR,
                "mail_error": {**NULL_STR, "description": "最近一次发送失败的错误类型"},
            }
        ),
        "DepartmentSubmissions": _obj(
            {
                "department": STR,
                "versions": {**_list(_ref("Submission")), "description": "各版本，最新在前"},
            }
        ),
        "Submissions": _obj(
            {
                "submitted_count": {**INT, "description": "全区已报送的部门数"},
                "department_count": {**INT, "description": "全区有任务的部门数"},
                "submitted": {
                    **_list(_ref("DepartmentSubmissions")),
                    "description": "已报送的部门，最近报送的在前",
                },
                "not_submitted": {**_list(STR), "description": "未报送的部门"},
            }
        ),
        "Indicator": _obj(_indicator_props()),
        "LinkState": _obj(
            {
                "ok": BOOL,
                "status": NULL_INT,
                "title": STR,
                "error": STR,
                "checked_at": STR,
            },
            nullable=True,
        ),
        "Material": _obj(
            {
                "title": STR,
                "url": STR,
                "kind": {"type": "string", "enum": ["link", "paper"]},
                "clickable": {**BOOL, "description": "true only for http(s) links"},
                "location": {**STR, "description": "纸质材料的存放位置"},
                "secret": {
                    **BOOL,
                    "description": "涉密：名称和网址不对外提供，title 为「涉密材料，现场查阅」",
                },
                "added_by": STR,
                "added_at": STR,
                "link": _ref("LinkState"),
            }
        ),
        "Assignment": _obj(
            {
                "indicator": INT,
                "department": STR,
                "role": {"type": "string", "enum": [r.value for r in Role]},
                "role_label": STR,
                "status": {"type": "string", "enum": statuses},
                "status_label": STR,
                "complete": BOOL,
                "materials": _list(_ref("Material")),
                "explanation": STR,
                "reason": STR,
                "rectification": {**STR, "description": "★项的整改说明"},
                "updated_by": STR,
                "updated_at": STR,
                "version": INT,
            }
        ),
        "IndicatorDetail": _obj(
            {**_indicator_props(), "assignments": _list(_ref("Assignment"))},
        ),
        "AuditEntry": _obj(
            {
                "id": STR,
                "at": STR,
                "actor": STR,
                "action": STR,
                "action_label": STR,
                "department": STR,
                "indicator": NULL_INT,
                "before_status": STR,
                "after_status": STR,
                "note": STR,
                "before": {**STR, "description": "the stored value before the change"},
                "after": {**STR, "description": "the stored value after the change"},
            }
        ),
    }

    errors = {
        "400": _json(_ref("Error"), "a bad query parameter"),
        "401": {
            **_json(_ref("Error"), "missing or wrong bearer token"),
            "headers": {"WWW-Authenticate": {"schema": STR}},
        },
    }

    def get(op_id: str, summary: str, ok: dict, params: list | None = None, not_found=False):
        responses = {"200": _json(ok, "OK"), **errors}
        if not_found:
            responses["404"] = _json(_ref("Error"), "no such item")
        op = {"operationId": op_id, "summary": summary, "responses": responses}
        if params:
            op["parameters"] = params
        return {"get": op}

    def q(name: str, schema: dict, description: str) -> dict:
        return {"name": name, "in": "query", "required": False, "schema": schema,
                "description": description}  # fmt: skip

    dept_param = q("department", {"type": "string", "enum": departments}, "部门名称")
    ind_schema = {"type": "integer", "minimum": lo, "maximum": hi}

    paths = {
        "/overview": get(
            "getOverview",
            "全区总览：活动信息、截止日期与剩余天数、各状态数量",
            _ref("Overview"),
        ),
        "/departments": get(
            "listDepartments",
            "各部门进度（按排名）",
            _obj({"departments": _list(_ref("DepartmentProgress"))}),
        ),
        "/behind": get(
            "listBehind",
            "谁落后：各部门按落后分从高到低（并列同名次），对照下一截止日",
            _obj(
                {
                    "departments": _list(_ref("Behind")),
                    "next": _ref("NextDeadline"),
                    "final": _ref("NextDeadline"),
                    "rule": STR,
                }
            ),
        ),
        "/indicators": get(
            "listIndicators",
            "全部指标及责任单位",
            _obj({"indicators": _list(_ref("Indicator"))}),
            [
                q("level1", STR, "按一级指标筛选"),
                q("star", {"type": "boolean"}, "只看★项（true）或非★项（false）"),
            ],
        ),
        "/indicators/{indicator_id}": {
            "parameters": [{"name": "indicator_id", "in": "path", "required": True, "schema": INT}],
            **get(
                "getIndicator",
                "单个指标全文，含各责任单位的状态、材料与链接检查结果",
                _ref("IndicatorDetail"),
                not_found=True,
            ),
        },
        "/assignments": get(
            "listAssignments",
            "任务（指标×部门），可按部门、指标、状态筛选",
            _obj({"assignments": _list(_ref("Assignment"))}),
            [
                dept_param,
                q("indicator", ind_schema, "指标编号"),
                q("status", {"type": "string", "enum": statuses}, "状态"),
            ],
        ),
        "/audit": get(
            "listAudit",
            "操作日志，最新在前；用 next_cursor 翻页",
            _obj({"items": _list(_ref("AuditEntry")), "next_cursor": NULL_STR}),
            [
                q(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": AUDIT_MAX_LIMIT, "default": 100},
                    "每页条数",
                ),
                q(
                    "cursor",
                    {"type": "string", "pattern": CURSOR_PATTERN},
                    "上一页返回的 next_cursor",
                ),
                dept_param,
                q(
                    "action",
                    {"type": "string", "pattern": ACTION_PATTERN},
                    "操作类型，例如 " + "、".join(list(ACTION_LABELS)[:6]),
                ),
                q("indicator", ind_schema, "指标编号"),
            ],
        ),
    }
    paths["/submissions"] = get(
        "listSubmissions",
        "各部门报送情况：每一版的时间、报送人、定稿文件和邮件状态，以及未报送的部门",
        _ref("Submissions"),
        [dept_param],
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "督办 Duban API",
            "version": "1.0.0",
            "description": (
                "依法治区办示范创建督办数据的只读接口。每个请求都需带上 "
                "`Authorization: Bearer <DUBAN_API_TOKEN>`。"
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
    }


def _indicator_props() -> dict:
    names = _list(STR)
    return {
        "id": INT,
        "level1": STR,
        "level2": STR,
        "level3": STR,
        "evidence": STR,
        "evidence_from": NULL_INT,
        "kind": {"type": "string", "enum": ["regular", "bonus", "deduction"]},
        "star": BOOL,
        "lead_units": {**names, "description": "牵头单位，按责任表原文"},
        "cooperate_units": {**names, "description": "配合单位，按责任表原文"},
        "lead": {**names, "description": "牵头部门（展开后）"},
        "cooperate": {**names, "description": "配合部门（展开后）"},
    }

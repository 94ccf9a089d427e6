"""The shapes of /api/v1 as pydantic models: what a request may carry and what a response
holds. bot/web/api.py validates with them and bot/web/openapi.py generates the OpenAPI
document from them, so the document cannot drift from what the code accepts and returns.

The department and indicator filters depend on the running data (the org and the table), so
their models are built per deployment (api_models)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from bot.progress import Role, Status
from bot.rules import MAX_REASON
from bot.web.views import MAIL_LABELS

AUDIT_MAX_LIMIT = 500
CURSOR_PATTERN = r"^[0-9]{1,19}-[0-9]{1,19}$"
ACTION_PATTERN = r"^[a-z_]{1,40}$"

StatusValue = Literal[tuple(s.value for s in Status)]
RoleValue = Literal[tuple(r.value for r in Role)]
MailValue = Literal[tuple(MAIL_LABELS)]


class Model(BaseModel):
    """Every property required and no other (additionalProperties: false), as sent."""

    model_config = ConfigDict(extra="forbid")


def described(description: str, **kw: Any) -> Any:
    return Field(description=description, **kw)


Date = Annotated[str, Field(json_schema_extra={"format": "date"})]
Percent = Annotated[int, Field(ge=0, le=100)]


# --- responses -----------------------------------------------------------------------------


class Error(Model):
    error: str
    message: str


class CampaignError(Model):
    error: Literal["unknown_campaign"]
    message: str
    campaigns: list[str] = described("the campaign ids this deployment has")


ByStatus = create_model(
    "ByStatus",
    __base__=Model,
    **{s.value: (Annotated[int, Field(ge=0)], ...) for s in Status},
)


class Deadline(Model):
    key: str
    name: str
    date: Date
    days_left: int = described("calendar days; negative once passed")
    workdays_left: int = described("working days; negative once passed")
    passed: bool


class Event(Model):
    key: str
    name: str
    title: str
    window_start: Date
    window_end: Date
    date: Date | None = described("具体日期（依法治区办设置后才有）")
    when: str = described("如「9月（具体日期待定）」")
    days_left: int | None
    workdays_left: int | None
    passed: bool
    started: bool


class CampaignInfo(Model):
    name: str
    document: str
    issued_by: str
    issued_on: Date
    submit_to: str


class BonusDepartment(Model):
    department: str
    indicators: list[int]


class Totals(Model):
    assignments: int
    complete: int
    percent: Percent
    by_status: ByStatus


class Overview(Model):
    campaign: CampaignInfo
    today: Date
    phase: Literal["running", "readiness", "ended"] = described(
        "报送阶段 / 截止后准备查验 / 活动已结束"
    )
    stage: str = described("当前阶段的一句话说明")
    deadlines: list[Deadline]
    events: list[Event] = described("实地查验等事项（不是截止日期）")
    bonus: list[BonusDepartment] = described("已提交加分项材料的部门（不计入排名）")
    totals: Totals
    indicators: int
    departments: int
    submitted_departments: int = described("已报送（至少一版）的部门数")


class LatestSubmission(Model):
    version: int = Field(ge=1)
    at: str


class DepartmentProgress(Model):
    rank: int = Field(ge=1)
    last_rank: int | None
    department: str
    percent: Percent
    done_weight: int
    total_weight: int
    done_count: int
    total_count: int
    lead_count: int
    by_status: ByStatus
    reached_at: str | None
    submission: LatestSubmission | None = described("最新一版报送；未报送时为 null")


class Departments(Model):
    departments: list[DepartmentProgress]


class Behind(Model):
    rank: int = Field(ge=1)
    department: str
    points: int = described("落后分：越高越落后（规则见 rule）")
    reasons: list[str]
    open_count: int
    total_count: int
    returned: int
    dead_links: int
    idle_days: int = described("连续无操作天数")
    liaisons: int
    bound: int = described("已绑定人数")
    per_workday: str = described("按期完成每个工作日需完成的项数（文字）")


class BehindList(Model):
    departments: list[Behind]
    next: Deadline | None = described("下一截止日；全部截止后为 null")
    final: Deadline | None = described("最后截止日")
    rule: str


class SubmissionFile(Model):
    kind: Literal["xlsx", "docx"]
    name: str
    token: str
    url: str = described("下载地址（/exports/<token>，无需登录）")


class Submission(Model):
    version: int = Field(ge=1)
    at: str = described("报送时间（UTC）")
    actor: str = described("报送人（平台:用户）")
    completeness: str = described("定稿时的完成情况，如「已完成 12/71 项」；定稿文件生成前为空")
    files: list[SubmissionFile] = described("定稿文件；生成前为空")
    mail: MailValue | None = described("邮件状态；定稿文件生成前为 null")
    mail_label: str
    mailed_at: str | None
    mailed_to: str | None
    mail_error: str | None = described("最近一次发送失败的错误类型")


class DepartmentSubmissions(Model):
    department: str
    versions: list[Submission] = described("各版本，最新在前")


class Submissions(Model):
    submitted_count: int = described("全区已报送的部门数")
    department_count: int = described("全区有任务的部门数")
    submitted: list[DepartmentSubmissions] = described("已报送的部门，最近报送的在前")
    not_submitted: list[str] = described("未报送的部门")


class Indicator(Model):
    id: int
    level1: str
    level2: str
    level3: str
    evidence: str
    evidence_from: int | None
    kind: Literal["regular", "bonus", "deduction"]
    star: bool
    lead_units: list[str] = described("牵头单位，按责任表原文")
    cooperate_units: list[str] = described("配合单位，按责任表原文")
    lead: list[str] = described("牵头部门（展开后）")
    cooperate: list[str] = described("配合部门（展开后）")


class Indicators(Model):
    indicators: list[Indicator]


class LinkState(Model):
    ok: bool
    status: int | None
    title: str
    error: str
    checked_at: str


class StoredFile(Model):
    sha256: str = described("文件内容的 SHA-256（文件按内容保存）")
    size: int = described("字节数")
    name: str = described("文件名，按上传时的原样")
    kind: str = described("按内容判断的类型：pdf、ofd、docx、xlsx、pptx、ole、jpeg、png、gif、webp")
    is_image: bool


class Material(Model):
    title: str
    name: str = described("显示名称：title，未命名的链接为网址的域名和路径（与导出文件一致）")
    url: str
    kind: Literal["link", "paper", "file"]
    kind_label: str = described("类型，与导出文件一致：网上链接、纸质、PDF 文件、JPG 图片……")
    file: StoredFile | None = described("上传或在群里发送的文件（kind 为 file 时）")
    clickable: bool = described("true only for http(s) links")
    location: str = described("纸质材料的存放位置；文件在文件存储中的位置")
    secret: bool = described("涉密：名称和网址不对外提供，title 为「涉密材料，现场查阅」")
    added_by: str
    added_at: str
    link: LinkState | None


class Assignment(Model):
    indicator: int
    department: str
    role: RoleValue
    role_label: str
    status: StatusValue
    status_label: str
    complete: bool
    materials: list[Material]
    explanation: str
    reason: str
    rectification: str = described("★项的整改说明")
    rework: str = described("退回时定的返工期限（YYYY-MM-DD），没有为空")
    updated_by: str
    updated_at: str
    version: int


class Assignments(Model):
    assignments: list[Assignment]


class IndicatorDetail(Indicator):
    assignments: list[Assignment]


class AuditEntry(Model):
    id: str
    at: str
    actor: str
    action: str
    action_label: str
    department: str
    indicator: int | None
    before_status: str
    after_status: str
    note: str
    before: str = described("the stored value before the change")
    after: str = described("the stored value after the change")


class AuditPage(Model):
    items: list[AuditEntry]
    next_cursor: str | None


class ReviewResult(Model):
    changed: bool = described("false: the assignment already was as asked; nothing was saved")
    message: str = described("what happened, as the office's pages say it")
    assignment: Assignment


class StarResult(Model):
    changed: bool = described("false: the ★ already was as asked; nothing was saved")
    message: str
    starred: bool


# --- requests ------------------------------------------------------------------------------


def _whole_number(value: Any) -> Any:
    """A query value is text: only digits (with a sign) are a number; 1.0, 1e3 or 0x10 are not."""
    if isinstance(value, str):
        if not re.fullmatch(r"[+-]?[0-9]{1,9}", value.strip()):
            raise ValueError("not a whole number")
        return int(value)
    return value


def _whole_float(value: Any) -> Any:
    """JSON Schema counts 12.0 as an integer, so a JSON body may write one so."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _boolean(value: Any) -> Any:
    """A query value is text: exactly true or false."""
    if isinstance(value, str):
        if value not in ("true", "false"):
            raise ValueError("not true or false")
        return value == "true"
    return value


def query_int(lo: int, hi: int) -> Any:
    """A whole number lo–hi in a query string (the bounds must sit on the int itself for the
    JSON schema to show them as minimum and maximum)."""
    return Annotated[int, Field(ge=lo, le=hi), BeforeValidator(_whole_number)]


QueryBool = Annotated[bool, BeforeValidator(_boolean)]


class Body(Model):
    """A JSON request body: strict, so "12" is not a number and 1 is not true."""

    model_config = ConfigDict(extra="forbid", strict=True)


class StarRequest(Body):
    starred: bool = described("true: 标为★整改项；false: 取消★")


@lru_cache(maxsize=8)
def api_models(departments: tuple[str, ...], lo: int, hi: int) -> dict[str, type[BaseModel]]:
    """The request models whose values depend on the data: the departments that have
    assignments and the indicator numbers lo–hi."""
    dept = Literal[departments or ("",)]
    ind = query_int(lo, hi)
    opt = {"default": None}
    return {
        "IndicatorsQuery": create_model(
            "IndicatorsQuery",
            __base__=Model,
            level1=(str | None, Field(description="按一级指标筛选", **opt)),
            star=(QueryBool | None, Field(description="只看★项（true）或非★项（false）", **opt)),
        ),
        "AssignmentsQuery": create_model(
            "AssignmentsQuery",
            __base__=Model,
            department=(dept | None, Field(description="部门名称", **opt)),
            indicator=(ind | None, Field(description="指标编号", **opt)),
            status=(StatusValue | None, Field(description="状态", **opt)),
        ),
        "AuditQuery": create_model(
            "AuditQuery",
            __base__=Model,
            limit=(
                query_int(1, AUDIT_MAX_LIMIT),
                Field(100, description="每页条数"),
            ),
            cursor=(
                Annotated[str, Field(pattern=CURSOR_PATTERN)] | None,
                Field(description="上一页返回的 next_cursor", **opt),
            ),
            department=(dept | None, Field(description="部门名称", **opt)),
            action=(
                Annotated[str, Field(pattern=ACTION_PATTERN)] | None,
                Field(description="操作类型，例如 submit、approve、return", **opt),
            ),
            indicator=(ind | None, Field(description="指标编号", **opt)),
        ),
        "SubmissionsQuery": create_model(
            "SubmissionsQuery",
            __base__=Model,
            department=(dept | None, Field(description="部门名称", **opt)),
        ),
        "ReviewRequest": create_model(
            "ReviewRequest",
            __base__=Body,
            indicator=(
                Annotated[int, Field(ge=lo, le=hi), BeforeValidator(_whole_float)],
                Field(description="指标编号"),
            ),
            department=(dept, Field(description="部门全称（见 /departments）")),
            action=(
                Literal["approve", "return"],
                Field(description="approve: 通过；return: 退回（须写 reason）"),
            ),
            reason=(
                Annotated[str, Field(max_length=MAX_REASON)],
                Field("", description="退回原因，按原样保存并通知该部门"),
            ),
            confirm=(
                bool,
                Field(False, description="通过未标记完成的任务时须为 true（先看 409 的说明）"),
            ),
            rework=(
                Date,
                Field("", description="退回时可定的返工期限（YYYY-MM-DD，不早于今天），可不填"),
            ),
        ),
    }

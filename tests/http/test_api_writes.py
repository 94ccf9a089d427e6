"""/api/v1's writes: review (PATCH /assignments) and ★ (PATCH /indicators/{id}) act by the same
rules as chat, tell the department, are audited, answer a repeat with changed: false, take
JSON only, and stay inside the document (schemathesis)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation

from bot.messages import Incoming
from bot.progress import Role, Status
from tests.http.conftest import API_TOKEN
from tests.outbox import read_outbox

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
DEPT = "司法局"


def say(rt, user: str, text: str) -> str:
    return rt.dispatcher.handle(Incoming("sandbox", user, text, mentioned=True)).text


def lead_indicator(rt, department: str) -> int:
    return min(i for (i, d), r in rt.assignments.items() if d == department and r is Role.LEAD)


def review(client, **body):
    return client.patch("/api/v1/assignments", json=body, headers=AUTH)


def outbox_texts(rt, department: str) -> list[str]:
    return [n.text for _, n, _ in read_outbox(rt.store) if n.department == department]


def test_return_then_approve_with_confirmation(web_client, web_rt):
    ind = lead_indicator(web_rt, DEPT)
    say(web_rt, "zhangsan", f"纸质 {ind} 2019年执法台账")
    reason = "缺少 2020 年的台账；\n请补充"

    resp = review(web_client, indicator=ind, department=DEPT, action="return", reason=reason)
    assert resp.status_code == 200, resp.json
    assert (
        resp.json["changed"] is True
        and resp.json["message"] == f"已退回{DEPT}第{ind}项，原因已通知该部门。"
    )
    assert (resp.json["assignment"]["status"], resp.json["assignment"]["reason"]) == (
        "returned",
        reason,
    )
    assert any("缺少 2020 年的台账" in t for t in outbox_texts(web_rt, DEPT))
    (entry,) = web_rt.store.audit.entries(count=1, department=DEPT, action="return")
    assert (entry.actor, entry.note) == ("api:token", reason)
    # the department cannot undo the office's review
    assert "不能撤销" in say(web_rt, "zhangsan", f"撤销 {ind}")

    # the same return again: done already, nothing saved
    before = web_rt.store.audit.length()
    again = review(web_client, indicator=ind, department=DEPT, action="return", reason=reason)
    assert again.status_code == 200 and again.json["changed"] is False
    assert "同样的原因" in again.json["message"]
    assert web_rt.store.audit.length() == before

    # approving a returned item needs confirm: true, and says why
    resp = review(web_client, indicator=ind, department=DEPT, action="approve")
    assert resp.status_code == 409 and resp.json["error"] == "needs_confirmation"
    assert "退回后还没有重新标记完成" in resp.json["message"]
    assert "confirm: true" in resp.json["message"]
    assert web_rt.store.assignments.get(ind, DEPT)[0].status is Status.RETURNED
    assert web_rt.store.audit.length() == before

    resp = review(web_client, indicator=ind, department=DEPT, action="approve", confirm=True)
    assert resp.status_code == 200 and resp.json["assignment"]["status"] == "approved"
    assert any(f"第{ind}项已通过" in t for t in outbox_texts(web_rt, DEPT))
    after = web_rt.store.audit.length()
    again = review(web_client, indicator=ind, department=DEPT, action="approve", confirm=True)
    assert again.status_code == 200 and again.json["changed"] is False
    assert web_rt.store.audit.length() == after


def test_refusals_change_nothing(web_client, web_rt):
    ind = lead_indicator(web_rt, DEPT)
    other = next(i for i in web_rt.catalog.ids if (i, DEPT) not in web_rt.assignments)
    before = web_rt.store.audit.length()
    cases = [
        # the rules: nothing to approve or return yet
        ({"indicator": ind, "department": DEPT, "action": "approve"}, 409, "refused"),
        ({"indicator": ind, "department": DEPT, "action": "return", "reason": "缺"}, 409, "refused"),
        # not this department's item
        ({"indicator": other, "department": DEPT, "action": "approve"}, 404, "not_found"),
        # the body's shape
        # a return needs its reason (the schema cannot say so: approve takes none)
        ({"indicator": ind, "department": DEPT, "action": "return"}, 409, "refused"),
        ({"indicator": ind, "department": DEPT, "action": "return", "reason": " "}, 409, "refused"),
        ({"indicator": str(ind), "department": DEPT, "action": "approve"}, 400, "bad_request"),
        ({"indicator": ind, "department": "不存在的局", "action": "approve"}, 400, "bad_request"),
        ({"indicator": ind, "department": DEPT, "action": "delete"}, 400, "bad_request"),
        ({"indicator": ind, "department": DEPT, "action": "approve", "x": 1}, 400, "bad_request"),
        ({"indicator": ind, "department": DEPT}, 400, "bad_request"),
        (
            {"indicator": ind, "department": DEPT, "action": "return", "reason": "长" * 501},
            400,
            "bad_request",
        ),
    ]  # fmt: skip
    for body, status, error in cases:
        resp = review(web_client, **body)
        assert (resp.status_code, resp.json["error"]) == (status, error), body
        assert resp.json["message"]
    wrong = review(web_client, indicator=ind, department=DEPT, action="delete")
    assert wrong.json["message"] == "action 应为 approve（通过）或 return（退回）。"
    assert web_rt.store.audit.length() == before


def test_writes_take_json_with_the_token_only(web_client, web_rt):
    ind = lead_indicator(web_rt, DEPT)
    say(web_rt, "zhangsan", f"纸质 {ind} 台账")
    body = {"indicator": ind, "department": DEPT, "action": "return", "reason": "缺"}
    # a form (what another site's page could post) is refused before anything is read
    resp = web_client.patch("/api/v1/assignments", data=body, headers=AUTH)
    assert resp.status_code == 415 and resp.json["error"] == "unsupported_media_type"
    resp = web_client.patch("/api/v1/assignments", json=body)
    assert resp.status_code == 401
    resp = web_client.patch("/api/v1/assignments", data="[1]", headers=AUTH,
                            content_type="application/json")  # fmt: skip
    assert resp.status_code == 400
    assert web_client.post("/api/v1/assignments", json=body, headers=AUTH).status_code == 405
    assert web_rt.store.assignments.get(ind, DEPT)[0].status is Status.IN_PROGRESS


def test_star_is_set_not_toggled(web_client, web_rt):
    ind = next(i for i, x in web_rt.catalog.indicators.items() if not x.star)
    path = f"/api/v1/indicators/{ind}"
    resp = web_client.patch(path, json={"starred": True}, headers=AUTH)
    assert resp.status_code == 200
    assert (resp.json["changed"], resp.json["starred"]) == (True, True)
    assert web_rt.store.assignments.star_overrides() == {ind: True}
    assert web_client.get(path, headers=AUTH).json["star"] is True
    before = web_rt.store.audit.length()
    again = web_client.patch(path, json={"starred": True}, headers=AUTH)
    assert (again.json["changed"], again.json["starred"]) == (False, True)
    assert web_rt.store.audit.length() == before
    (entry,) = web_rt.store.audit.entries(count=1, action="star")
    assert entry.actor == "api:token"
    off = web_client.patch(path, json={"starred": False}, headers=AUTH)
    assert (off.json["changed"], off.json["starred"]) == (True, False)
    assert web_client.patch("/api/v1/indicators/100", json={"starred": True},
                            headers=AUTH).status_code == 404  # fmt: skip
    bad = web_client.patch(path, json={"starred": "true"}, headers=AUTH)
    assert bad.status_code == 400 and "starred" in bad.json["message"]


def test_the_document_lists_the_writes(web_client, web_rt):
    doc = web_client.get("/api/v1/openapi.json").json
    review_op = doc["paths"]["/assignments"]["patch"]
    assert review_op["operationId"] == "reviewAssignment"
    body = review_op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][body.rsplit("/", 1)[1]]
    assert set(schema["properties"]["department"]["enum"]) == {d for _, d in web_rt.assignments}
    assert set(schema["required"]) == {"indicator", "department", "action"}
    assert {"404", "409", "415"} <= set(review_op["responses"])
    assert doc["paths"]["/indicators/{indicator_id}"]["patch"]["operationId"] == "starIndicator"


WRITES = [("/assignments", "PATCH"), ("/indicators/{indicator_id}", "PATCH")]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("path", "method"), WRITES)
def test_writes_conform_to_the_document(web_app, web_rt, path, method, mode):
    say(web_rt, "lisi", "纸质 2 台账")  # something to review
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", web_app)
    operation = next(
        r.ok()
        for r in schema.get_all_operations()
        if r.ok().path == path and r.ok().method.upper() == method
    )

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case):
        if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
            case.call_and_validate()
        else:
            case.call_and_validate(headers=AUTH)

    check()

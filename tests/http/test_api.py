"""/api/v1 over HTTP: the bearer token, the data, filters, paging and JSON errors."""

from __future__ import annotations

import pytest

from bot.messages import Incoming
from bot.progress import Role
from tests.http.conftest import API_TOKEN

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def say(rt, user: str, text: str) -> str:
    return rt.dispatcher.handle(Incoming("sandbox", user, text, mentioned=True)).text


def lead_indicator(rt, department: str) -> int:
    return min(i for (i, d), r in rt.assignments.items() if d == department and r is Role.LEAD)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {API_TOKEN}"},
        {"Authorization": API_TOKEN},
    ],  # fmt: skip
)
def test_missing_or_wrong_token_is_401_json(web_client, headers):
    resp = web_client.get("/api/v1/overview", headers=headers)
    assert resp.status_code == 401
    assert resp.is_json and resp.json["error"] == "unauthorized"
    assert resp.headers["WWW-Authenticate"] == "Bearer"


def test_api_disabled_without_a_token(web_rt, web_settings):
    from app import create_app

    web_rt.settings = web_settings.with_(api_token="")
    client = create_app(runtime=web_rt).test_client()
    resp = client.get("/api/v1/overview", headers={"Authorization": "Bearer "})
    assert resp.status_code == 401 and "DUBAN_API_TOKEN" in resp.json["message"]


def test_openapi_document_is_public(web_client, web_rt):
    resp = web_client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    doc = resp.json
    assert doc["openapi"].startswith("3.")
    default = {
        "/overview",
        "/departments",
        "/behind",
        "/indicators",
        "/indicators/{indicator_id}",
        "/assignments",
        "/audit",
        "/submissions",
    }
    # the default campaign's paths as before campaigns, and every campaign's (issue 13)
    ids = web_rt.campaign_ids()
    assert set(doc["paths"]) == default | {f"/campaigns/{c}{p}" for c in ids for p in default}


def test_overview_and_departments_follow_changes(web_client, web_rt):
    ind = lead_indicator(web_rt, "司法局")
    ov = web_client.get("/api/v1/overview", headers=AUTH).json
    assert ov["totals"]["complete"] == 0 and ov["indicators"] == 99
    assert ov["deadlines"][0] == {
        "key": "submit",
        "name": "资料目录报送",
        "date": "2020-08-19",
        "days_left": 5,
        "workdays_left": 3,
        "passed": False,
    }
    say(web_rt, "zhangsan", f"纸质 {ind} 台账")
    say(web_rt, "zhangsan", f"完成 {ind}")
    ov = web_client.get("/api/v1/overview", headers=AUTH).json
    assert ov["totals"]["complete"] == 1 and ov["totals"]["by_status"]["done"] == 1
    depts = web_client.get("/api/v1/departments", headers=AUTH).json["departments"]
    assert depts[0]["department"] == "司法局" and depts[0]["rank"] == 1
    assert depts[0]["done_count"] == 1 and depts[0]["done_weight"] >= 2


def test_indicators_and_one_indicator(web_client, web_rt):
    items = web_client.get("/api/v1/indicators", headers=AUTH).json["indicators"]
    assert [x["id"] for x in items] == list(range(1, 100))
    say(web_rt, "admin", "星标 5")  # the sandbox's admin
    stars = web_client.get("/api/v1/indicators?star=true", headers=AUTH).json["indicators"]
    assert [x["id"] for x in stars] == [5] and stars[0]["star"] is True
    plain = web_client.get("/api/v1/indicators?star=false", headers=AUTH).json["indicators"]
    assert len(plain) == 98
    ind = lead_indicator(web_rt, "司法局")
    say(web_rt, "zhangsan", f"提交 {ind} https://www.example.gov.cn/a.html 实施方案")
    one = web_client.get(f"/api/v1/indicators/{ind}", headers=AUTH).json
    assert "司法局" in one["lead"]
    ours = next(a for a in one["assignments"] if a["department"] == "司法局")
    assert ours["status"] == "in_progress"
    assert ours["materials"][0]["url"] == "https://www.example.gov.cn/a.html"
    assert ours["materials"][0]["clickable"] is True and ours["materials"][0]["link"] is None


def test_assignments_filters(web_client, web_rt):
    ind = lead_indicator(web_rt, "司法局")
    say(web_rt, "zhangsan", f"纸质 {ind} 台账")
    got = web_client.get(
        "/api/v1/assignments", query_string={"status": "in_progress"}, headers=AUTH
    ).json["assignments"]
    assert [(a["indicator"], a["department"]) for a in got] == [(ind, "司法局")]
    mine = web_client.get(
        "/api/v1/assignments", query_string={"department": "司法局"}, headers=AUTH
    ).json["assignments"]
    assert len(mine) == sum(1 for (_, d) in web_rt.assignments if d == "司法局")


def test_audit_pages_with_a_cursor(web_client, web_rt):
    ind = lead_indicator(web_rt, "司法局")
    for n in range(5):
        say(web_rt, "zhangsan", f"说明 {ind} 第{n}稿")
    seen, cursor = [], None
    while True:
        q = {"limit": 2, "action": "explain"} | ({"cursor": cursor} if cursor else {})
        page = web_client.get("/api/v1/audit", query_string=q, headers=AUTH).json
        assert len(page["items"]) <= 2
        seen += [e["note"] or e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and len(set(seen)) == 5
    everything = web_client.get("/api/v1/audit?limit=500", headers=AUTH).json["items"]
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))), reverse=True)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/audit?limit=0",
        "/api/v1/audit?limit=501",
        "/api/v1/audit?limit=abc",
        "/api/v1/audit?cursor=nope",
        "/api/v1/audit?action=DROP%20TABLE",
        "/api/v1/assignments?department=不存在的局",
        "/api/v1/assignments?status=finished",
        "/api/v1/assignments?indicator=100",
        "/api/v1/indicators?star=maybe",
    ],
)
def test_bad_parameters_are_400_json(web_client, path):
    resp = web_client.get(path, headers=AUTH)
    assert resp.status_code == 400 and resp.is_json
    assert resp.json["error"] == "bad_request" and resp.json["message"]


def test_not_found_and_wrong_method_are_json(web_client):
    resp = web_client.get("/api/v1/indicators/100", headers=AUTH)
    assert resp.status_code == 404 and resp.json["error"] == "not_found"
    resp = web_client.get("/api/v1/nothing-here", headers=AUTH)
    assert resp.status_code == 404 and resp.is_json
    resp = web_client.post("/api/v1/overview", headers=AUTH)
    assert resp.status_code == 405 and resp.is_json and "GET" in resp.headers["Allow"]

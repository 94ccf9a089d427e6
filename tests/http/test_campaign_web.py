"""The admin pages and the API per campaign (issue 13): /admin/<id>/… and
/api/v1/campaigns/<id>/… for a second campaign built under tmp_path, the old paths as the
default campaign, who may open which campaign, an archived campaign, and unknown ids."""

from __future__ import annotations

import re

import pytest

from bot.messages import Incoming
from bot.progress import Status
from bot.runtime import build_runtime
from bot.web import views
from tests.http import campaigns
from tests.http.campaigns import (
    OLD,
    OLD_TITLE,
    SECOND,
    SECOND_PASSWORD,
    SECOND_PASSWORD_ENV,
    SECOND_TITLE,
)
from tests.http.conftest import API_TOKEN, csrf_of, login

camp_settings, camp_rt, camp_app = campaigns.camp_settings, campaigns.camp_rt, campaigns.camp_app
IDS = ["default", *sorted([SECOND, OLD])]  # the default first, then the folders by name
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def client(camp_app):
    return camp_app.test_client()


@pytest.fixture
def admin(client):
    assert login(client).status_code == 302
    return client


def post(client, path: str, data: dict, page: str | None = None):
    token = csrf_of(client, page or path.rsplit("/", 1)[0] or "/admin/")
    return client.post(path, data={**data, "csrf": token})


def done_in_second(rt, indicator: int = 1) -> None:
    """西夏区教育局's liaison submits a link for the item and marks it done, in chat."""
    second = rt.for_campaign(SECOND)
    for text in (
        f"提交 {indicator} https://www.example.gov.cn/a.html 实施方案",
        f"完成 {indicator}",
    ):
        # in the second campaign's own chat (小赵 is on the archived campaign's roster too, so a
        # one-to-one chat would first ask which campaign)
        msg = Incoming("sandbox", "xiaozhao", text, mentioned=True)
        second.dispatcher.handle(msg, routed=True)
    assert second.store.assignments.get(indicator, "西夏区教育局")[0].status == Status.DONE


def hrefs(html: str) -> list[str]:
    """The page's links to the office's pages, leaving out the header's campaign switcher."""
    html = re.sub(r'<details class="switcher".*?</details>', "", html, flags=re.S)
    return re.findall(r'(?:href|action)="(/admin[^"]*)"', html)


# --- every admin page per campaign ---------------------------------------------------------

PAGES = [
    "",
    "/matrix",
    "/review",
    "/bindings",
    "/submissions",
    "/rectification",
    "/audit",
    "/deliveries",
    "/exports",
    "/inspect",
    "/indicators/1",
    "/departments/西夏区教育局",
    "/inspect/西夏区教育局",
    "/inspect/西夏区教育局/report",
]


@pytest.mark.parametrize("page", PAGES)
def test_every_admin_page_of_the_second_campaign_shows_its_data_and_keeps_it_in_links(admin, page):
    resp = admin.get(f"/admin/{SECOND}{page}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200, html[:500]
    assert SECOND_TITLE in html  # the switcher names the campaign
    assert "政府办" not in html  # a department of the default campaign only
    assert 'id="campaign-switcher"' in html
    links = [h for h in hrefs(html) if not h.startswith("/admin/static/")]
    assert links, "the page links nothing"
    # every link stays in the campaign; the switcher alone leads out
    stray = [h for h in links if not re.match(rf"/admin/{SECOND}(/|$)", h)]
    assert not stray, stray


def test_the_old_paths_are_the_default_campaign(admin):
    html = admin.get("/admin/matrix").get_data(as_text=True)
    assert "政府办" in html and "西夏区教育局" not in html
    assert all(not h.startswith(f"/admin/{SECOND}") for h in hrefs(html))
    # the default campaign is also reachable by its id
    assert "政府办" in admin.get("/admin/default/matrix").get_data(as_text=True)
    # a department of another campaign is not the default's
    assert admin.get("/admin/departments/西夏区教育局").status_code == 404


def test_actions_on_the_second_campaign_change_it_alone(admin, camp_rt):
    second = camp_rt.for_campaign(SECOND)
    done_in_second(camp_rt)
    page = f"/admin/{SECOND}/indicators/1"
    resp = post(admin, f"/admin/{SECOND}/indicators/1/review",
                {"department": "西夏区教育局", "action": "return", "reason": "缺少材料"}, page)  # fmt: skip
    assert resp.status_code == 302 and resp.headers["Location"].startswith(page)
    assert second.store.assignments.get(1, "西夏区教育局")[0].status == Status.RETURNED
    assert camp_rt.store.assignments.get(1, "西夏区教育局")[0] is None
    assert camp_rt.store.assignments.get(1, "司法局")[0].status == Status.TODO
    # ★ and the inspection day: the second campaign's, not the default's
    assert post(admin, f"/admin/{SECOND}/indicators/2/star", {}, page).status_code == 302
    assert second.store.assignments.star_overrides() == {2: True}
    assert camp_rt.store.assignments.star_overrides() == {}
    resp = post(admin, f"/admin/{SECOND}/inspection", {"day": "2020-09-15"}, f"/admin/{SECOND}/")
    assert resp.headers["Location"] == f"/admin/{SECOND}"
    assert "inspection" in second.store.assignments.event_dates()
    assert "inspection" not in camp_rt.store.assignments.event_dates()
    # the audit page of each campaign shows its own entries
    assert "缺少材料" in admin.get(f"/admin/{SECOND}/audit").get_data(as_text=True)
    assert "缺少材料" not in admin.get("/admin/audit").get_data(as_text=True)


def test_an_export_of_any_campaign_downloads_by_its_token(admin, camp_rt):
    token = camp_rt.for_campaign(OLD).store.exports.put("目录.xlsx", b"PK-old")
    resp = admin.get(f"/exports/{token}")
    assert resp.status_code == 200 and resp.data == b"PK-old"


# --- who may see what -------------------------------------------------------------------------


def test_a_campaign_admin_opens_their_campaign_and_no_other(client, camp_rt):
    assert login(client, SECOND_PASSWORD).status_code == 401  # not at the default's door
    token = csrf_of(client, f"/admin/{SECOND}/login")
    resp = client.post(f"/admin/{SECOND}/login", data={"password": SECOND_PASSWORD, "csrf": token})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/admin/{SECOND}"
    assert client.get(f"/admin/{SECOND}/").status_code == 200
    assert client.get(f"/admin/{SECOND}/matrix").status_code == 200
    for other in ("/admin/", "/admin/matrix", f"/admin/{OLD}/", "/admin/default/review"):
        resp = client.get(other)
        assert resp.status_code == 403, other
        assert "只能管理自己的督办活动" in resp.get_data(as_text=True)
    assert client.get("/admin/campaigns").status_code == 403
    # nor may it act there
    token = csrf_of(client, f"/admin/{SECOND}/")
    resp = client.post("/admin/indicators/1/star", data={"csrf": token})
    assert resp.status_code == 403
    assert camp_rt.store.assignments.star_overrides() == {}
    # no switcher for it: it has one campaign
    assert 'id="campaign-switcher"' not in client.get(f"/admin/{SECOND}/").get_data(as_text=True)


def test_a_campaign_login_ends_when_its_password_changes(client, camp_app, camp_rt):
    token = csrf_of(client, f"/admin/{SECOND}/login")
    client.post(f"/admin/{SECOND}/login", data={"password": SECOND_PASSWORD, "csrf": token})
    assert client.get(f"/admin/{SECOND}/").status_code == 200
    s = camp_rt.settings
    camp_rt.for_campaign(SECOND).settings = s.with_(
        campaign_admin_passwords=((SECOND_PASSWORD_ENV, "new"),)
    )
    resp = client.get(f"/admin/{SECOND}/")
    assert resp.status_code == 302 and f"/admin/{SECOND}/login" in resp.headers["Location"]


def test_the_deployment_admin_sees_every_campaign_on_one_page(admin, camp_rt):
    camp_rt.for_campaign(SECOND).dispatcher  # noqa: B018
    resp = admin.get("/admin/campaigns")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    ids = re.findall(r'data-campaign="([^"]+)"', html.split('id="campaigns"')[1])
    assert ids == IDS
    assert SECOND_TITLE in html and OLD_TITLE in html and "已归档" in html
    assert f'href="/admin/{SECOND}"' in html and 'href="/admin"' in html

    # progress moves with the campaign's own state
    def percent(cid: str) -> int:
        html = admin.get("/admin/campaigns").get_data(as_text=True).split('id="campaigns"')[1]
        return int(re.search(rf'data-campaign="{cid}".*?完成 <b>(\d+)%', html, re.S).group(1))

    assert percent(SECOND) == 0
    for i in range(1, 6):
        done_in_second(camp_rt, i)
    assert percent(SECOND) == views.totals(camp_rt.for_campaign(SECOND))["percent"] > 0
    assert percent("default") == 0
    # the header's switcher lists them, and keeps the page
    html = admin.get(f"/admin/{SECOND}/matrix").get_data(as_text=True)
    switcher = html.split('id="campaign-switcher"')[1].split("</details>")[0]
    assert 'href="/admin/matrix"' in switcher and f'href="/admin/{OLD}/matrix"' in switcher
    assert SECOND_TITLE in switcher.split("</summary>")[0]


# --- an archived campaign ------------------------------------------------------------------


def test_an_archived_campaign_reads_and_exports_but_takes_no_write(admin, camp_rt):
    old = camp_rt.for_campaign(OLD)
    html = admin.get(f"/admin/{OLD}/").get_data(as_text=True)
    assert 'class="archived"' in html and "已归档：只能查看和导出" in html
    assert 'id="inspection-form"' not in html and 'id="remind-now"' not in html
    page = f"/admin/{OLD}/indicators/1"
    assert admin.get(page).status_code == 200
    resp = post(admin, f"/admin/{OLD}/indicators/1/review",
                {"department": "司法局", "action": "return", "reason": "缺"}, page)  # fmt: skip
    assert resp.status_code == 409 and "已归档" in resp.get_data(as_text=True)
    assert old.store.assignments.get(1, "司法局")[0].status == Status.TODO
    assert post(admin, f"/admin/{OLD}/indicators/1/star", {}, page).status_code == 409
    # exports are still built and listed
    html = admin.get(f"/admin/{OLD}/exports").get_data(as_text=True)
    assert 'id="build-district"' in html
    resp = post(
        admin, f"/admin/{OLD}/exports/build", {"scope": "district"}, f"/admin/{OLD}/exports"
    )
    assert resp.status_code == 302 and resp.headers["Location"] == f"/admin/{OLD}/exports"


# --- unknown campaigns -------------------------------------------------------------------------


def test_an_unknown_campaign_is_a_chinese_404(admin, client):
    resp = admin.get("/admin/nope-2030/matrix")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 404 and "没有找到督办活动「nope-2030」" in html
    assert "nope-2030" not in "".join(hrefs(html))  # its way back leads somewhere that is
    resp = client.get("/api/v1/campaigns/nope-2030/overview", headers=AUTH)
    assert resp.status_code == 404
    body = resp.json
    assert body["error"] == "unknown_campaign" and "nope-2030" in body["message"]
    assert body["campaigns"] == IDS
    # without the token nothing is told about the campaigns
    resp = client.get("/api/v1/campaigns/nope-2030/overview")
    assert resp.status_code == 401 and "campaigns" not in resp.json


# --- the API per campaign ----------------------------------------------------------------------

API_READS = [
    "/overview",
    "/departments",
    "/behind",
    "/indicators",
    "/indicators/1",
    "/assignments",
    "/audit",
    "/submissions",
]


@pytest.mark.parametrize("path", API_READS)
def test_every_api_read_of_the_second_campaign_is_its_own(client, path):
    second = client.get(f"/api/v1/campaigns/{SECOND}{path}", headers=AUTH)
    default = client.get(f"/api/v1{path}", headers=AUTH)
    assert second.status_code == default.status_code == 200
    assert second.json != default.json or path in ("/audit", "/submissions")
    same = client.get(f"/api/v1/campaigns/default{path}", headers=AUTH)
    assert same.json == default.json


def test_api_reads_are_scoped(client):
    ov = client.get(f"/api/v1/campaigns/{SECOND}/overview", headers=AUTH).json
    assert ov["indicators"] == 5 and ov["departments"] == 3
    assert ov["campaign"]["name"] == SECOND_TITLE
    deps = client.get(f"/api/v1/campaigns/{SECOND}/departments", headers=AUTH).json
    assert {d["department"] for d in deps["departments"]} == {
        "司法局",
        "行政审批局",
        "西夏区教育局",
    }
    resp = client.get(f"/api/v1/campaigns/{SECOND}/indicators/6", headers=AUTH)
    assert resp.status_code == 404 and "1–5" in resp.json["message"]


def test_api_writes_go_to_the_campaign_in_the_path(client, camp_rt):
    second = camp_rt.for_campaign(SECOND)
    done_in_second(camp_rt)
    resp = client.patch(f"/api/v1/campaigns/{SECOND}/assignments", headers=AUTH,
                        json={"indicator": 1, "department": "西夏区教育局", "action": "approve"})  # fmt: skip
    assert resp.status_code == 200, resp.json
    assert second.store.assignments.get(1, "西夏区教育局")[0].status == Status.APPROVED
    assert camp_rt.store.assignments.get(1, "西夏区教育局")[0] is None
    resp = client.patch(f"/api/v1/campaigns/{SECOND}/indicators/3", headers=AUTH,
                        json={"starred": True})  # fmt: skip
    assert resp.status_code == 200 and resp.json["changed"]
    assert second.store.assignments.star_overrides() == {3: True}
    assert camp_rt.store.assignments.star_overrides() == {}
    # a department of this campaign only, not the default's
    resp = client.patch(f"/api/v1/campaigns/{SECOND}/assignments", headers=AUTH,
                        json={"indicator": 1, "department": "政府办", "action": "approve"})  # fmt: skip
    assert resp.status_code == 400


def test_api_writes_to_an_archived_campaign_are_refused(client, camp_rt):
    for path, body in [
        ("/assignments", {"indicator": 1, "department": "司法局", "action": "approve"}),
        ("/indicators/1", {"starred": True}),
    ]:
        resp = client.patch(f"/api/v1/campaigns/{OLD}{path}", headers=AUTH, json=body)
        assert resp.status_code == 409
        assert resp.json["error"] == "archived" and "已归档" in resp.json["message"]
    assert camp_rt.for_campaign(OLD).store.assignments.star_overrides() == {}
    assert client.get(f"/api/v1/campaigns/{OLD}/overview", headers=AUTH).status_code == 200


def test_the_openapi_documents_list_the_campaign_paths(client):
    doc = client.get("/api/v1/openapi.json").json
    for cid in IDS:
        assert f"/campaigns/{cid}/overview" in doc["paths"]
    item = doc["paths"][f"/campaigns/{SECOND}/assignments"]
    body = item["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]["department"]["enum"]) == {"司法局", "行政审批局", "西夏区教育局"}
    query = {p["name"]: p["schema"] for p in item["get"]["parameters"]}
    assert query["indicator"]["maximum"] == 5
    ops = [
        o["operationId"] for p in doc["paths"].values() for m, o in p.items() if m != "parameters"
    ]
    assert len(ops) == len(set(ops))
    one = client.get(f"/api/v1/campaigns/{SECOND}/openapi.json").json
    assert one["servers"] == [{"url": f"/api/v1/campaigns/{SECOND}"}]
    dept = one["components"]["schemas"]["ReviewRequest"]["properties"]["department"]
    assert set(dept["enum"]) == {"司法局", "行政审批局", "西夏区教育局"}


def test_a_second_deployment_without_campaign_folders_has_no_switcher(web_client):
    assert login(web_client).status_code == 302
    html = web_client.get("/admin/").get_data(as_text=True)
    assert 'id="campaign-switcher"' not in html


def test_build_runtime_reads_the_campaign_folders(camp_settings, redis_client, clock):
    rt = build_runtime(camp_settings, clock=clock, client=redis_client)
    assert rt.campaign_ids() == IDS
    assert rt.for_campaign(OLD).is_archived and not rt.is_archived


SCHEMA_CASES = [
    (f"/api/v1/campaigns/{SECOND}/openapi.json", "/assignments"),
    (f"/api/v1/campaigns/{SECOND}/openapi.json", "/indicators/{indicator_id}"),
    ("/api/v1/openapi.json", f"/campaigns/{SECOND}/assignments"),
    ("/api/v1/openapi.json", f"/campaigns/{SECOND}/audit"),
    ("/api/v1/openapi.json", f"/campaigns/{OLD}/indicators/{{indicator_id}}"),
]


@pytest.mark.parametrize(("document", "path"), SCHEMA_CASES)
def test_campaign_paths_conform_to_their_document(camp_app, camp_rt, document, path):
    """schemathesis: no server error and no response outside the document, at the campaign
    paths of both documents."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    done_in_second(camp_rt)
    schema = schemathesis.openapi.from_wsgi(document, camp_app)
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().path == path)

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case):
        case.call_and_validate(headers=AUTH)

    check()


def test_no_campaign_can_take_the_name_of_an_admin_page(camp_app, tmp_path):
    """/admin/<word>/… is an admin page when <word> is one of theirs, so a campaign of that id
    would be unreachable: every page's first segment is reserved, and a folder of that name
    stops start-up naming it."""
    from bot.campaigns import RESERVED_IDS, CampaignError, read_spec

    words = {
        r.rule.split("/")[2]
        for r in camp_app.url_map.iter_rules()
        if r.rule.startswith("/admin/") and "<campaign" not in r.rule
    }
    assert words - {""} <= RESERVED_IDS
    folder = tmp_path / "matrix"
    folder.mkdir()
    (folder / "campaign.yaml").write_text("title: 矩阵\n", encoding="utf-8")
    with pytest.raises(CampaignError, match="与管理页面的地址重名"):
        read_spec(folder)


def test_a_fill_in_link_of_the_second_campaign_opens_its_page_and_writes_there(client, camp_rt):
    """「填报」 in the second campaign gives a link to its own items: the page finds the link in
    that campaign, shows its departments' items and saves there, never in the default one."""
    second = camp_rt.for_campaign(SECOND)
    reply = second.dispatcher.handle(Incoming("sandbox", "xiaozhao", "填报"), routed=True)
    path = re.search(r"http://duban\.test(/m/[^\s)]+)", reply.text).group(1)
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    assert "西夏区教育局 · 共" in page.get_data(as_text=True)
    item = client.get(f"{path}/1")
    token = re.search(r'name="csrf" value="([^"]+)"', item.get_data(as_text=True)).group(1)
    done = client.post(f"{path}/1/na", data={"csrf": token, "reason": "本单位不涉及此项"})
    assert done.status_code in (302, 303), done.get_data(as_text=True)
    assert second.store.assignments.get(1, "西夏区教育局")[0].status == Status.NOT_APPLICABLE
    assert camp_rt.store.assignments.get(1, "西夏区教育局")[0] is None  # none in the default


def test_the_binder_qr_code_of_the_second_campaign_opens_its_inspection_page(admin, camp_rt):
    from urllib.parse import urlsplit

    from bot.exports import inspect_url

    url = inspect_url(camp_rt.settings, "西夏区教育局", SECOND)
    assert urlsplit(url).path.startswith(f"/admin/{SECOND}/inspect/")
    page = admin.get(urlsplit(url).path)
    assert page.status_code == 200 and "<h1>西夏区教育局</h1>" in page.get_data(as_text=True)
    assert urlsplit(inspect_url(camp_rt.settings, "司法局", "default")).path.startswith(
        "/admin/inspect/"
    )

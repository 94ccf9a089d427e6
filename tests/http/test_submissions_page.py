"""报送 seen by the office: the overview's column, /admin/submissions, /api/v1/submissions, and
the deliveries page's list of departments that no push can reach. Submissions are made through
the chat command and their files built by the real jobs."""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import replace

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from app import create_app
from bot.messages import ChatTarget, Incoming
from bot.progress import Role
from bot.queue import job_key, make_queue
from bot.schedule import job_id
from bot.scheduler import retry_releaser
from tests.http.conftest import API_TOKEN, csrf_of, login, work
from tests.stubs.smtp_server import SmtpStub

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
SFJ, MZJ, JYJ = "司法局", "民政局", "教育局"
_ids = itertools.count(1)


def say(rt, user: str, text: str) -> str:
    msg = Incoming("sandbox", user, text, mentioned=True, message_id=f"sub-{next(_ids)}")
    return rt.dispatcher.handle(msg).text


def lead_indicator(rt, department: str) -> int:
    return min(i for (i, d), r in rt.assignments.items() if d == department and r is Role.LEAD)


def any_indicator(rt, department: str) -> int:
    return min(i for (i, d) in rt.assignments if d == department)


def submit(rt, user: str, department: str, paper: str = "2019年台账") -> str:
    """Bind `user` (when not yet bound), add one paper material, and 报送."""
    if department != SFJ:
        assert f"已绑定到**{department}**" in say(rt, user, f"绑定 {department}")
    assert "纸质" in say(rt, user, f"纸质 {any_indicator(rt, department)} {paper}")
    reply = say(rt, user, "报送 确认")
    assert reply.startswith(f"**已报送{department}资料目录第 "), reply
    return reply


def section_of(html: str, department: str) -> str:
    m = re.search(rf'<section class="card dept-submissions" data-department="{department}">'
                  r"(.*?)</section>", html, re.S)  # fmt: skip
    assert m, f"no section for {department}"
    return m.group(1)


def version_row(section: str, version: int) -> str:
    m = re.search(rf'<tr data-version="{version}">(.*?)</tr>', section, re.S)
    assert m, f"no row for version {version}"
    return m.group(1)


def mail_state(section: str, version: int) -> str:
    cell = re.search(r'<td class="mail[^"]*" data-mail="([^"]*)">\s*([^<\s]+)', version_row(
        section, version))  # fmt: skip
    return cell.group(2)


# --- the overview ----------------------------------------------------------------------------


def test_overview_shows_the_latest_submission_per_department(admin_client, web_rt, clock):
    def overview() -> tuple[str, str, str]:
        html = admin_client.get("/admin").get_data(as_text=True)
        stat = re.search(r'<b id="total-submitted">([^<]+)</b>', html).group(1)
        cells = {
            d: re.search(
                rf'<tr data-department="{d}">.*?<td class="nowrap submission[^"]*"[^>]*>(.*?)</td>',
                html,
                re.S,
            ).group(1)
            for d in (SFJ, MZJ)
        }
        return stat, re.sub(r"<[^>]+>", "", cells[SFJ]), re.sub(r"<[^>]+>", "", cells[MZJ])

    departments = len({d for _, d in web_rt.assignments})
    assert overview() == (f"0 / {departments}", "未报送", "未报送")
    submit(web_rt, "zhangsan", SFJ)
    assert overview() == (f"1 / {departments}", "第1版 · 2020-08-14 10:00", "未报送")
    clock.set(2020, 8, 14, 3, 30)
    say(web_rt, "zhangsan", "报送 确认")
    assert overview() == (f"1 / {departments}", "第2版 · 2020-08-14 11:30", "未报送")
    html = admin_client.get("/admin").get_data(as_text=True)
    assert "已报送" in html and "个部门" in html
    assert "/admin/submissions?department=%E5%8F%B8%E6%B3%95%E5%B1%80" in html  # 司法局


# --- /admin/submissions ----------------------------------------------------------------------


def test_each_version_shows_how_complete_it_was(admin_client, web_rt):
    """Issue 16 item 5: the office sees each version's completeness next to its badge."""
    chores = [i for (i, d) in web_rt.assignments if d == SFJ and i in web_rt.catalog.regular_ids]
    submit(web_rt, "zhangsan", SFJ)
    work(web_rt)
    ind = any_indicator(web_rt, SFJ)
    assert "已标记完成" in say(web_rt, "zhangsan", f"完成 {ind}")
    say(web_rt, "zhangsan", "报送 确认")
    work(web_rt)
    section = section_of(admin_client.get("/admin/submissions").get_data(as_text=True), SFJ)
    head = re.sub(r"<[^>]+>", "", section.split("</h2>")[0])
    assert f"已报送第2版 已完成 1/{len(chores)} 项" in " ".join(head.split())
    assert f"已完成 0/{len(chores)} 项" in version_row(section, 1)
    assert f"已完成 1/{len(chores)} 项" in version_row(section, 2)


def test_submissions_page_needs_login(web_client):
    resp = web_client.get("/admin/submissions")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/admin/login?next=/admin/submissions")


def test_submissions_page_lists_versions_files_and_the_unsubmitted(
    admin_client, web_app, web_rt, clock
):
    submit(web_rt, "zhangsan", SFJ)
    clock.set(2020, 8, 14, 2, 30)
    submit(web_rt, "mz1", MZJ)
    clock.set(2020, 8, 14, 3, 0)
    say(web_rt, "zhangsan", f"纸质 {lead_indicator(web_rt, SFJ)} 2020年台账")
    say(web_rt, "wangwu", "报送 确认")

    # before the build job has run: listed, files still being made
    html = admin_client.get("/admin/submissions").get_data(as_text=True)
    assert "报送</a>" in html and 'aria-current="page">报送<' in html  # the nav entry
    sfj = section_of(html, SFJ)
    assert "定稿文件生成中" in version_row(sfj, 2) and mail_state(sfj, 2) == "等待定稿"

    work(web_rt)
    html = admin_client.get("/admin/submissions").get_data(as_text=True)
    assert re.search(r"已报送 2 / \d+ 个部门", html)
    # newest first: 司法局 (11:00) before 民政局 (10:30); versions newest first
    assert html.index(f'data-department="{SFJ}"') < html.index(f'data-department="{MZJ}"')
    sfj, mzj = section_of(html, SFJ), section_of(html, MZJ)
    assert sfj.index('data-version="2"') < sfj.index('data-version="1"')
    v2, v1 = version_row(sfj, 2), version_row(sfj, 1)
    assert "第2版" in v2 and "2020-08-14 11:00" in v2 and "王五" in v2 and "sandbox:" not in v2
    assert "第1版" in v1 and "2020-08-14 10:00" in v1 and "<td>张三</td>" in v1
    assert "2020-08-14 10:30" in version_row(mzj, 1) and "<td>mz1</td>" in version_row(mzj, 1)
    assert mail_state(sfj, 1) == mail_state(sfj, 2) == "未配置邮件"  # no DUBAN_SMTP_URL

    # the file links download, without a login (the token is the key), as the frozen versions
    links = re.findall(r'<a href="(/exports/[A-Za-z0-9_-]+)" download>([^<]+)</a>', v1)
    assert [name for _, name in links] == [
        f"{SFJ}_资料目录_第1版.xlsx",
        f"{SFJ}_报送材料说明_第1版.docx",
    ]
    anonymous = web_app.test_client()
    for href, _name in links:
        got = anonymous.get(href)
        assert got.status_code == 200 and got.data[:2] == b"PK"  # xlsx and docx are zip files
        assert "%E7%AC%AC1%E7%89%88" in got.headers["Content-Disposition"]  # 第1版
    v1_xlsx = anonymous.get(links[0][0]).data
    v2_href = re.search(r'<a href="(/exports/[^"]+)" download>[^<]+\.xlsx<', v2).group(1)
    assert anonymous.get(v2_href).data != v1_xlsx  # v2 holds the later material

    # the departments that have not submitted come last
    rest = re.search(r'<ul class="chips" id="not-submitted">(.*?)</ul>', html, re.S)
    assert rest and html.index('id="not-submitted"') > html.index(f'data-department="{MZJ}"')
    unsubmitted = re.findall(r'<li data-department="([^"]+)">', rest.group(1))
    assert JYJ in unsubmitted and SFJ not in unsubmitted and MZJ not in unsubmitted
    assert len(unsubmitted) == len({d for _, d in web_rt.assignments}) - 2
    assert f"<h2>未报送（{len(unsubmitted)} 个部门）</h2>" in html

    # ?department= narrows the page
    html = admin_client.get("/admin/submissions", query_string={"department": MZJ}).get_data(
        as_text=True
    )
    assert f'data-department="{MZJ}"' in html and f'data-department="{SFJ}"' not in html
    assert 'id="not-submitted"' not in html
    html = admin_client.get("/admin/submissions", query_string={"department": JYJ}).get_data(
        as_text=True
    )
    assert "dept-submissions" not in html
    assert re.search(rf'id="not-submitted">\s*<li data-department="{JYJ}">', html)


def test_mail_states_are_shown_in_chinese(admin_client, web_rt, monkeypatch):
    smtp = SmtpStub().start()
    try:
        monkeypatch.setenv("DUBAN_SMTP_URL", smtp.url)  # what the jobs read
        submit(web_rt, "zhangsan", SFJ)
        work(web_rt)
    finally:
        smtp.stop()
    assert len(smtp.messages) == 1
    html = admin_client.get("/admin/submissions").get_data(as_text=True)
    sfj = section_of(html, SFJ)
    assert mail_state(sfj, 1) == "已发送"
    assert "2020-08-14 10:00 发至 jfqfzb@163.com" in version_row(sfj, 1)

    monkeypatch.setenv("DUBAN_SMTP_URL", "smtp://127.0.0.1:1?from=a@b.test")  # nobody listens
    submit(web_rt, "mz1", MZJ)
    work(web_rt)  # files built; the mail fails once and waits for its retry
    html = admin_client.get("/admin/submissions").get_data(as_text=True)
    assert mail_state(section_of(html, MZJ), 1) == "重试中"
    assert mail_state(section_of(html, SFJ), 1) == "已发送"

    q = make_queue(web_rt.redis, web_rt.settings.key_prefix)
    release = retry_releaser(q)
    mail = job_key(web_rt.settings.key_prefix, job_id("mail", MZJ, 1))
    for _ in range(5):
        if mail in q.failed_job_registry.get_job_ids():
            break
        assert release(time.time() + 1000) == 1  # as if the backoff delay had passed
        work(web_rt)
    assert mail in q.failed_job_registry.get_job_ids()
    html = admin_client.get("/admin/submissions").get_data(as_text=True)
    mzj = section_of(html, MZJ)
    assert mail_state(mzj, 1) == "发送失败" and "手动发送" in version_row(mzj, 1)
    assert "/exports/" in version_row(mzj, 1)  # the files stay downloadable


# --- /api/v1/submissions ---------------------------------------------------------------------


def test_api_lists_submissions(web_client, web_rt, clock):
    assert web_client.get("/api/v1/submissions").status_code == 401
    empty = web_client.get("/api/v1/submissions", headers=AUTH).json
    departments = len({d for _, d in web_rt.assignments})
    assert empty["submitted"] == [] and empty["submitted_count"] == 0
    assert len(empty["not_submitted"]) == empty["department_count"] == departments

    submit(web_rt, "zhangsan", SFJ)
    clock.set(2020, 8, 14, 2, 5)
    say(web_rt, "zhangsan", "报送 确认")
    work(web_rt)
    got = web_client.get("/api/v1/submissions", headers=AUTH).json
    assert got["submitted_count"] == 1 and SFJ not in got["not_submitted"]
    assert [x["department"] for x in got["submitted"]] == [SFJ]
    v2, v1 = got["submitted"][0]["versions"]
    assert (v2["version"], v2["at"], v2["actor"]) == (
        2,
        "2020-08-14T02:05:00.000Z",
        "sandbox:zhangsan",
    )
    assert (v1["version"], v1["at"]) == (1, "2020-08-14T02:00:00.000Z")
    assert v1["mail"] == "not_configured" and v1["mail_label"] == "未配置邮件"
    assert [(f["kind"], f["name"]) for f in v1["files"]] == [
        ("xlsx", f"{SFJ}_资料目录_第1版.xlsx"),
        ("docx", f"{SFJ}_报送材料说明_第1版.docx"),
    ]
    for f in v1["files"]:
        assert f["url"] == f"http://duban.test/exports/{f['token']}"
        assert web_client.get(f"/exports/{f['token']}").status_code == 200

    one = web_client.get("/api/v1/submissions", query_string={"department": JYJ}, headers=AUTH)
    assert one.json["submitted"] == [] and one.json["not_submitted"] == [JYJ]
    assert one.json["submitted_count"] == 1  # the district's count, whatever the filter
    bad = web_client.get("/api/v1/submissions", query_string={"department": "无此局"}, headers=AUTH)
    assert bad.status_code == 400 and bad.json["error"] == "bad_request"
    typo = web_client.get("/api/v1/submissions", query_string={"dept": SFJ}, headers=AUTH)
    assert typo.status_code == 400

    # the same data in /departments and /overview
    depts = {x["department"]: x for x in web_client.get("/api/v1/departments", headers=AUTH).json[
        "departments"]}  # fmt: skip
    assert depts[SFJ]["submission"] == {"version": 2, "at": "2020-08-14T02:05:00.000Z"}
    assert depts[MZJ]["submission"] is None
    assert web_client.get("/api/v1/overview", headers=AUTH).json["submitted_departments"] == 1


def test_api_submissions_conform_to_the_document(web_app, web_rt):
    submit(web_rt, "zhangsan", SFJ)
    work(web_rt)
    submit(web_rt, "mz1", MZJ)  # files not built yet: mail is null
    doc = web_app.test_client().get("/api/v1/openapi.json").json
    assert "/submissions" in doc["paths"]
    assert doc["paths"]["/submissions"]["get"]["operationId"] == "listSubmissions"
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", web_app)
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().path == "/submissions")
    seen: set[str] = set()

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case):
        resp = case.call_and_validate(headers=AUTH)
        if resp.status_code == 200:
            seen.update(x["department"] for x in resp.json()["submitted"])

    check()
    assert seen == {SFJ, MZJ}


# --- departments no push can reach --------------------------------------------------------


@pytest.fixture
def live_client(web_rt, web_settings):
    """Production mode (no demo) with chats for three departments in org.yaml."""
    org = web_rt.org
    chats = {
        SFJ: (ChatTarget("wecom", webhook_key="sfj-robot-key"),),  # a group robot: reachable
        MZJ: (ChatTarget("sandbox"),),  # the sandbox does not count
        JYJ: (ChatTarget("wecom", chat_id="wr-only-answers"),),  # smart bot: cannot push
    }
    depts = {n: replace(d, chats=chats.get(n, d.chats)) for n, d in org.departments.items()}
    web_rt.org = replace(org, departments=depts)
    web_rt.settings = web_settings.with_(demo=False)
    client = create_app(runtime=web_rt).test_client()
    assert login(client).status_code == 302
    return client


def unreachable_list(html: str) -> list[str]:
    m = re.search(r'id="unreachable">(.*?)</div>', html, re.S)
    assert m, "no 未配置群聊的部门 section"
    return re.findall(r'<li data-department="([^"]+)">', m.group(1))


def test_deliveries_page_lists_departments_without_a_push_route(live_client, web_rt):
    html = live_client.get("/admin/deliveries").get_data(as_text=True)
    assert "未配置群聊的部门" in html
    assert "提醒和通知暂时无法送达" in html and "org.yaml" in html
    listed = unreachable_list(html)
    assert MZJ in listed and JYJ in listed and SFJ not in listed
    assigned = {d for _, d in web_rt.assignments}
    assert set(listed) == assigned - {SFJ}
    assert listed == [d for d in web_rt.org.departments if d in set(listed)]  # org.yaml order
    assert "演示模式" not in html
    # the page is still behind the login
    token = csrf_of(live_client, "/admin/deliveries")
    live_client.post("/admin/logout", data={"csrf": token})
    assert live_client.get("/admin/deliveries").status_code == 302


def test_deliveries_page_in_demo_mode_says_nothing_is_pushed(admin_client):
    html = admin_client.get("/admin/deliveries").get_data(as_text=True)
    assert "未配置群聊的部门" in html and "演示模式不会向真实群聊推送消息" in html
    assert '<ul class="chips">' not in html

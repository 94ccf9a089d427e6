"""The office's pages over HTTP: login, CSRF, escaping, review through the command core."""

from __future__ import annotations

import html
import re
import threading
import time

import pytest

from bot import delivery, texts
from bot.messages import Incoming
from bot.progress import Material, Role, Status
from bot.queue import LINKS, MAIN, URGENT, make_queue
from bot.records import Change
from bot.web.admin import LOGIN_MAX_FAILURES
from tests.http.conftest import ADMIN_PASSWORD, API_TOKEN, csrf_of, login, work
from tests.outbox import read_outbox


def lead_indicator(rt, department: str) -> int:
    return min(i for (i, d), r in rt.assignments.items() if d == department and r is Role.LEAD)


def say(rt, user: str, text: str, admin: bool = False) -> str:
    msg = Incoming("sandbox", user, text, mentioned=True, message_id=f"t-{text}", is_admin=admin)
    return rt.dispatcher.handle(msg).text


def outbox_texts(rt, department: str) -> list[str]:
    return [n.text for _, n, _ in read_outbox(rt.store) if n.department == department]


def review(client, ind: int, dept: str, action: str, follow: bool = True, **fields):
    """Press 通过 or 退回 on an indicator's page (with its session token)."""
    token = csrf_of(client, f"/admin/indicators/{ind}")
    data = {"csrf": token, "department": dept, "action": action, **fields}
    return client.post(f"/admin/indicators/{ind}/review", data=data, follow_redirects=follow)


def submitted_dead_link(rt, error: str) -> tuple[str, int]:
    """张三 submits a link to 司法局's first lead item; its check failed with `error`."""
    dept = "司法局"
    ind = lead_indicator(rt, dept)
    url = "https://www.example.gov.cn/dead.html"
    say(rt, "zhangsan", f"提交 {ind} {url} 方案")
    rt.store.links.record(url, {"ok": False, "status": None, "error": error})
    return dept, ind


# --- login ---------------------------------------------------------------------------------


def test_pages_need_login(web_client):
    for path in ("/admin", "/admin/matrix", "/admin/indicators/1", "/admin/audit"):
        resp = web_client.get(path)
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/admin/login?next=")


def test_wrong_password_is_refused(web_client):
    resp = login(web_client, "not-the-password")
    assert resp.status_code == 401
    assert "密码不正确" in resp.get_data(as_text=True)
    assert web_client.get("/admin").status_code == 302


def test_login_sets_a_safe_cookie_and_logout_ends_the_session(web_client):
    resp = login(web_client)
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin"
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("duban_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = web_client.get("/admin")
    assert page.status_code == 200 and "各部门完成率" in page.get_data(as_text=True)
    token = csrf_of(web_client, "/admin")
    out = web_client.post("/admin/logout", data={"csrf": token})
    assert out.status_code == 302 and out.headers["Location"] == "/admin/login"
    assert web_client.get("/admin").status_code == 302


def test_a_cookie_taken_before_logout_no_longer_opens_admin(web_app):
    """Logout ends the session on the server: a copy of its cookie is worth nothing after."""
    office = web_app.test_client()
    login(office)
    assert office.get("/admin").status_code == 200
    stolen = office.get_cookie("duban_session").value
    colleague = web_app.test_client()  # the office logged in on a second computer
    login(colleague)
    office.post("/admin/logout", data={"csrf": csrf_of(office, "/admin")})
    thief = web_app.test_client()
    thief.set_cookie("duban_session", stolen)
    assert thief.get("/admin").status_code == 302
    token = csrf_of(thief, "/admin/login")  # the stolen session's own CSRF token
    assert thief.post("/admin/indicators/12/star", data={"csrf": token}).status_code == 401
    assert web_app.extensions["duban"].store.assignments.star_overrides() == {}
    assert colleague.get("/admin").status_code == 200  # only the session that logged out ended


@pytest.mark.parametrize(
    "change", [{"admin_password": "a-new-password"}, {"secret_key": "a-rotated-secret-key"}]
)
def test_a_password_change_or_a_new_secret_key_ends_every_session(web_rt, web_settings, change):
    from app import create_app

    client = create_app(runtime=web_rt).test_client()
    login(client)
    assert client.get("/admin").status_code == 200
    cookie = client.get_cookie("duban_session").value
    web_rt.settings = web_settings.with_(**change)  # the office changed it and restarted
    after = create_app(runtime=web_rt).test_client()
    after.set_cookie("duban_session", cookie)
    assert after.get("/admin").status_code == 302


def test_login_follows_only_local_next(web_client):
    token = csrf_of(web_client)
    resp = web_client.post(
        "/admin/login", data={"password": "pw", "csrf": token, "next": "//evil.example/x"}
    )
    assert resp.headers["Location"] == "/admin"
    web_client.post("/admin/logout", data={"csrf": csrf_of(web_client, "/admin")})
    token = csrf_of(web_client)
    resp = web_client.post(
        "/admin/login", data={"password": "pw", "csrf": token, "next": "/admin/audit"}
    )
    assert resp.headers["Location"] == "/admin/audit"


def test_repeated_failures_are_rate_limited(web_client):
    for _ in range(10):
        assert login(web_client, "wrong").status_code == 401
    resp = login(web_client)  # even the right password waits now
    assert resp.status_code == 429
    assert "15 分钟" in resp.get_data(as_text=True)


def test_sixty_concurrent_wrong_passwords_check_exactly_the_limit(web_app):
    """The limit is counted in the same atomic step that lets an attempt be checked."""
    clients = [web_app.test_client() for _ in range(60)]
    tokens = [csrf_of(c) for c in clients]
    barrier = threading.Barrier(len(clients))
    codes: list[int] = []

    def attempt(client, token):
        barrier.wait()
        resp = client.post("/admin/login", data={"password": "wrong", "csrf": token})
        codes.append(resp.status_code)

    threads = [
        threading.Thread(target=attempt, args=ct) for ct in zip(clients, tokens, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes.count(401) == LOGIN_MAX_FAILURES  # checked, and wrong
    assert codes.count(429) == 60 - LOGIN_MAX_FAILURES  # refused unchecked


def _login_from(client, address: str, password: str):
    token = csrf_of(client)
    return client.post(
        "/admin/login",
        data={"password": password, "csrf": token},
        headers={"X-Forwarded-For": address},
    )


def test_a_forwarded_address_counts_only_behind_a_configured_proxy(web_rt, web_settings):
    from app import create_app

    client = create_app(runtime=web_rt).test_client()  # no trusted proxy: the header is noise
    for i in range(LOGIN_MAX_FAILURES):
        assert _login_from(client, f"198.51.100.{i}", "wrong").status_code == 401
    assert _login_from(client, "198.51.100.99", ADMIN_PASSWORD).status_code == 429
    web_rt.redis.flushdb()
    web_rt.settings = web_settings.with_(trusted_proxies=("127.0.0.1",))
    client = create_app(runtime=web_rt).test_client()
    for _ in range(LOGIN_MAX_FAILURES):
        assert _login_from(client, "203.0.113.5", "wrong").status_code == 401
    assert _login_from(client, "203.0.113.5", ADMIN_PASSWORD).status_code == 429
    # someone else behind the same proxy is not locked out by that address
    assert _login_from(client, "10.1.2.3, 198.51.100.7", ADMIN_PASSWORD).status_code == 302


def test_failures_from_many_addresses_slow_the_account_down_with_growing_delays(
    web_rt, web_settings
):
    from app import create_app

    web_rt.settings = web_settings.with_(trusted_proxies=("127.0.0.0/8",))
    client = create_app(runtime=web_rt).test_client()
    for i in range(LOGIN_MAX_FAILURES + 1):  # each address stays under its own limit
        assert _login_from(client, f"198.51.100.{i}", "wrong").status_code == 401
    refused = _login_from(client, "198.51.100.200", "wrong")
    assert refused.status_code == 429 and "请 1 秒后再试" in refused.get_data(as_text=True)
    time.sleep(1.1)
    assert _login_from(client, "198.51.100.201", "wrong").status_code == 401
    refused = _login_from(client, "198.51.100.202", ADMIN_PASSWORD)
    assert refused.status_code == 429 and "请 2 秒后再试" in refused.get_data(as_text=True)
    time.sleep(2.1)
    assert _login_from(client, "198.51.100.203", ADMIN_PASSWORD).status_code == 302
    # a success ends the slow-down
    other = create_app(runtime=web_rt).test_client()
    assert _login_from(other, "198.51.100.204", "wrong").status_code == 401


def test_admin_is_disabled_without_a_password(web_rt, web_settings):
    from app import create_app

    web_rt.settings = web_settings.with_(admin_password="", demo=False)
    client = create_app(runtime=web_rt).test_client()
    resp = client.get("/admin/login")
    assert resp.status_code == 503
    assert "DUBAN_ADMIN_PASSWORD" in resp.get_data(as_text=True)


def test_demo_mode_without_password_uses_demo(web_rt, web_settings):
    from app import create_app

    web_rt.settings = web_settings.with_(admin_password="", demo=True)
    client = create_app(runtime=web_rt).test_client()
    assert "密码为" in client.get("/admin/login").get_data(as_text=True)
    assert login(client, "demo").status_code == 302
    assert client.get("/admin").status_code == 200


# --- CSRF ----------------------------------------------------------------------------------


def test_login_without_csrf_is_refused(web_client):
    resp = web_client.post("/admin/login", data={"password": "pw"})
    assert resp.status_code == 400
    assert "CSRF" in resp.get_data(as_text=True)
    assert web_client.get("/admin").status_code == 302


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_review_without_the_session_token_changes_nothing(admin_client, web_rt, token):
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    say(web_rt, "zhangsan", f"纸质 {ind} 2019年台账")
    before = web_rt.store.audit.length()
    data = {"department": dept, "action": "approve"}
    if token is not None:
        data["csrf"] = token
    resp = admin_client.post(f"/admin/indicators/{ind}/review", data=data)
    assert resp.status_code == 400
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.IN_PROGRESS
    assert web_rt.store.audit.length() == before


# --- pages ---------------------------------------------------------------------------------


def test_overview_shows_progress_and_deadlines(admin_client, web_rt):
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    say(web_rt, "zhangsan", f"纸质 {ind} 台账")
    say(web_rt, "zhangsan", f"完成 {ind}")
    html = admin_client.get("/admin").get_data(as_text=True)
    assert "资料目录报送" in html and "还剩 5 天" in html  # 2020-08-14 -> 2020-08-19
    row = re.search(r'<tr data-department="司法局">(.*?)</tr>', html, re.S).group(1)
    assert re.search(r'class="num done-count"[^>]*>1/\d+<', row)
    assert '<svg class="chart"' in html and 'name="viewport"' in html


def test_matrix_filters(admin_client, web_rt):
    full = admin_client.get("/admin/matrix").get_data(as_text=True)
    assert "个部门 × 99 项指标" in full
    group = "附加项"
    ids = [i for i, ind in web_rt.catalog.indicators.items() if ind.level1 == group]
    html = admin_client.get("/admin/matrix", query_string={"level1": group}).get_data(as_text=True)
    assert f"× {len(ids)} 项指标" in html
    heads = re.findall(r'<th scope="col"><a href="/admin/indicators/(\d+)"', html)
    assert [int(x) for x in heads] == ids

    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    say(web_rt, "zhangsan", f"纸质 {ind} 台账")
    html = admin_client.get("/admin/matrix", query_string={"status": "in_progress"}).get_data(
        as_text=True
    )
    assert "1 个部门 ×" in html and 'data-department="司法局"' in html

    leads = admin_client.get("/admin/matrix", query_string={"lead": dept}).get_data(as_text=True)
    led = sorted(i for (i, d), r in web_rt.assignments.items() if d == dept and r is Role.LEAD)
    heads = re.findall(r'<th scope="col"><a href="/admin/indicators/(\d+)"', leads)
    assert [int(x) for x in heads] == led

    # before the first deadline nothing is overdue; after it every open item is
    html = admin_client.get("/admin/matrix", query_string={"overdue": "1"}).get_data(as_text=True)
    assert "暂无逾期事项" in html and "没有符合条件的事项" in html
    web_rt.store.clock.set(2020, 8, 20, 2)
    html = admin_client.get("/admin/matrix", query_string={"overdue": "1"}).get_data(as_text=True)
    assert 'data-department="司法局"' in html


def test_approve_and_return_from_the_page_notify_the_department(admin_client, web_rt):
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    say(web_rt, "zhangsan", f"纸质 {ind} 2019年执法台账")
    token = csrf_of(admin_client, f"/admin/indicators/{ind}")

    resp = admin_client.post(
        f"/admin/indicators/{ind}/review",
        data={
            "csrf": token,
            "department": dept,
            "action": "return",
            "reason": "缺少 2020 年的台账",
        },
        follow_redirects=True,
    )
    html = resp.get_data(as_text=True)
    assert f"已退回{dept}第{ind}项" in html
    a = web_rt.store.assignments.get(ind, dept)[0]
    assert a.status is Status.RETURNED and a.reason == "缺少 2020 年的台账"
    assert any("缺少 2020 年的台账" in t for t in outbox_texts(web_rt, dept))
    # delivered at once, as from chat: a drain of the outbox is queued now, before any chatter
    q = make_queue(web_rt.redis, web_rt.settings.key_prefix, URGENT)
    assert [q.fetch_job(j).func_name for j in q.job_ids] == [delivery.DRAIN_JOB]

    # approving a returned item asks first, says why, and changes nothing until confirmed
    before = web_rt.store.audit.length()
    resp = admin_client.post(
        f"/admin/indicators/{ind}/review",
        data={"csrf": token, "department": dept, "action": "approve"},
    )
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "确定要通过吗" in page
    assert f"{dept}第{ind}项退回后还没有重新标记完成（退回原因：缺少 2020 年的台账）" in page
    assert 'name="confirm" value="1"' in page
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.RETURNED
    assert web_rt.store.audit.length() == before
    resp = admin_client.post(
        f"/admin/indicators/{ind}/review",
        data={"csrf": token, "department": dept, "action": "approve", "confirm": "1"},
        follow_redirects=True,
    )
    assert f"已通过{dept}第{ind}项" in resp.get_data(as_text=True)
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.APPROVED
    assert any(f"第{ind}项已通过" in t for t in outbox_texts(web_rt, dept))
    actors = {e.actor for e in web_rt.store.audit.entries(count=5, department=dept)}
    assert "web:admin" in actors


def test_return_needs_a_reason(admin_client, web_rt):
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    say(web_rt, "zhangsan", f"纸质 {ind} 台账")
    resp = review(admin_client, ind, dept, "return", reason="  ")
    assert "退回时请写明原因" in resp.get_data(as_text=True)
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.IN_PROGRESS


OUTLINE = "一、总体情况\n（一）开展“双随机”抽查；\n\n（二）公示结果：全部公开。"


def test_what_was_typed_shows_as_typed_with_its_line_breaks(admin_client, web_rt):
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    say(web_rt, "zhangsan", f"说明 {ind} {OUTLINE}")
    reason = "缺少：2020年台账；　请补充（原件扫描）。"
    token = csrf_of(admin_client, f"/admin/indicators/{ind}")
    admin_client.post(
        f"/admin/indicators/{ind}/review",
        data={"csrf": token, "department": dept, "action": "return", "reason": f" {reason} "},
    )
    a = web_rt.store.assignments.get(ind, dept)[0]
    assert a.explanation == OUTLINE and a.reason == reason
    page = admin_client.get(f"/admin/indicators/{ind}").get_data(as_text=True)
    shown = re.search(r'<p class="typed explanation">(.*?)</p>', page, re.S)
    assert shown and html.unescape(shown.group(1)) == OUTLINE
    shown = re.search(r'<span class="typed reason-text">(.*?)</span>', page, re.S)
    assert shown and html.unescape(shown.group(1)) == reason
    css = admin_client.get("/admin/static/duban.css").get_data(as_text=True)
    assert re.search(r"\.typed \{[^}]*white-space: pre-wrap", css)


def test_an_item_marked_done_is_approved_from_the_page_at_once(admin_client, web_rt):
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    say(web_rt, "zhangsan", f"纸质 {ind} 台账")
    say(web_rt, "zhangsan", f"完成 {ind}")
    resp = review(admin_client, ind, dept, "approve")
    assert f"已通过{dept}第{ind}项" in resp.get_data(as_text=True)
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.APPROVED


def test_an_item_in_progress_asks_before_approval_from_the_page(admin_client, web_rt):
    dept, ind = submitted_dead_link(web_rt, "dns")
    page = review(admin_client, ind, dept, "approve", follow=False).get_data(as_text=True)
    assert "还没有标记完成（目前是进行中），且链接都打不开（1 个）" in page
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.IN_PROGRESS


def test_returning_an_untouched_item_from_the_page_is_refused(admin_client, web_rt):
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    before = web_rt.store.audit.length()
    resp = review(admin_client, ind, dept, "return", reason="请尽快提交")
    assert "还没有开始，没有可以退回的材料" in resp.get_data(as_text=True)
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.TODO
    assert web_rt.store.audit.length() == before


def test_approving_an_empty_item_shows_the_core_refusal(admin_client, web_rt):
    ind = lead_indicator(web_rt, "司法局")
    resp = review(admin_client, ind, "司法局", "approve")
    assert "尚无任何材料，不能通过" in resp.get_data(as_text=True)


def test_star_toggle(admin_client, web_rt):
    ind = next(i for i, x in web_rt.catalog.indicators.items() if not x.star)
    token = csrf_of(admin_client, f"/admin/indicators/{ind}")
    resp = admin_client.post(f"/admin/indicators/{ind}/star", data={"csrf": token})
    assert resp.status_code == 302
    assert web_rt.store.assignments.star_overrides() == {ind: True}
    html = admin_client.get(f"/admin/indicators/{ind}").get_data(as_text=True)
    assert "已将第" in html and "取消★标记" in html


def test_user_text_is_escaped_and_only_web_links_are_clickable(admin_client, web_rt):
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    a, raw = web_rt.store.assignments.get(ind, dept)
    evil = "<script>alert('x')</script>"
    materials = (
        Material(evil, "", "<b>who</b>", "2020-08-14T02:00:00.000Z"),
        Material("点我", "javascript:alert(document.cookie)", "x", "2020-08-14T02:00:00.000Z"),
        Material("正常", "https://www.example.gov.cn/a?x=1&y=2", "x", "2020-08-14T02:00:00.000Z"),
    )
    after = a.changed("sandbox:zhangsan", web_rt.store.now_iso(), materials=materials,
                      explanation=evil, status=Status.IN_PROGRESS)  # fmt: skip
    web_rt.store.assignments.save(Change(raw, after, "sandbox:zhangsan", "paper"))
    html = admin_client.get(f"/admin/indicators/{ind}").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<b>who</b>" not in html
    assert 'href="javascript:' not in html and "javascript:alert(document.cookie)" in html
    assert 'href="https://www.example.gov.cn/a?x=1&amp;y=2"' in html
    # the reason typed on the page comes back escaped too
    token = csrf_of(admin_client, f"/admin/indicators/{ind}")
    admin_client.post(
        f"/admin/indicators/{ind}/review",
        data={"csrf": token, "department": dept, "action": "return", "reason": evil},
    )
    html = admin_client.get(f"/admin/indicators/{ind}").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "Content-Security-Policy" in admin_client.get("/admin").headers


def test_audit_filters_and_paging(admin_client, web_rt):
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    say(web_rt, "zhangsan", f"纸质 {ind} 甲")
    say(web_rt, "zhangsan", f"说明 {ind} 已整理")
    html = admin_client.get(
        "/admin/audit", query_string={"department": dept, "action": "explain"}
    ).get_data(as_text=True)
    assert html.count('<tr data-action="explain">') == 1
    assert '<tr data-action="paper">' not in html
    html = admin_client.get("/admin/audit", query_string={"indicator": str(ind)}).get_data(
        as_text=True
    )
    assert '<tr data-action="paper">' in html and '<tr data-action="bind">' not in html


def test_rank_now_is_refused_during_quiet_hours(admin_client, web_rt, clock):
    clock.set(2020, 8, 14, 14, 30)  # 22:30 in Shanghai
    token = csrf_of(admin_client, "/admin")
    resp = admin_client.post("/admin/rank", data={"csrf": token}, follow_redirects=True)
    assert "现在是免打扰时段（21:00–08:00），请在 08:00 以后再推送排名。" in resp.get_data(
        as_text=True
    )
    assert make_queue(web_rt.redis, web_rt.settings.key_prefix).job_ids == []


def test_rank_now_pushes_the_ranking(admin_client, web_rt):
    ind = lead_indicator(web_rt, "司法局")
    say(web_rt, "zhangsan", f"纸质 {ind} 台账")
    say(web_rt, "zhangsan", f"完成 {ind}")
    token = csrf_of(admin_client, "/admin")
    resp = admin_client.post("/admin/rank", data={"csrf": token}, follow_redirects=True)
    assert "已安排立即推送排名" in resp.get_data(as_text=True)
    q = make_queue(web_rt.redis, web_rt.settings.key_prefix)
    assert [q.fetch_job(j).func_name for j in q.job_ids] == ["bot.jobs.send_ranking"]
    admin_client.post("/admin/rank", data={"csrf": token})  # same minute: not queued twice
    assert len(q.job_ids) == 1
    work(web_rt)
    ranking = [n for _, n, _ in read_outbox(web_rt.store, count=500) if n.kind == "ranking"]
    assert any(n.department == "司法局" for n in ranking)
    assert any(n.department == "" for n in ranking)  # the office's chat too


def test_remind_now_goes_through_the_command_core(admin_client, web_rt):
    token = csrf_of(admin_client, "/admin")
    resp = admin_client.post(
        "/admin/remind", data={"csrf": token, "department": "司法局"}, follow_redirects=True
    )
    html = resp.get_data(as_text=True)
    assert "已安排向司法局推送催办提醒" in html


def test_deliveries_page_shows_queue_health(admin_client, web_rt):
    web_rt.services.enqueue("bot.jobs.push_ranking", job_id="health-check")
    html = admin_client.get("/admin/deliveries").get_data(as_text=True)
    m = re.search(r"<span>排队中</span><b>(\d+)</b>", html)
    assert m and m.group(1) == "1"


def test_deliveries_page_counts_callbacks_waiting_for_an_answer(admin_client, web_rt):
    def unanswered() -> str:
        html = admin_client.get("/admin/deliveries").get_data(as_text=True)
        return re.search(r"<span>待回复消息</span><b>(\d+)</b>", html).group(1)

    assert unanswered() == "0"
    for i in range(2):
        assert web_rt.store.inbox.accept("dingtalk", f"wait-{i}", "{}")
    assert unanswered() == "2"


def test_export_is_built_listed_and_downloaded(admin_client, web_client, web_rt):
    from io import BytesIO

    from openpyxl import load_workbook

    token = csrf_of(admin_client, "/admin/exports")
    resp = admin_client.post(
        "/admin/exports/build",
        data={"csrf": token, "scope": "department", "department": "司法局"},
        follow_redirects=True,
    )
    assert "正在生成司法局的资料目录" in resp.get_data(as_text=True)
    work(web_rt)
    html = admin_client.get("/admin/exports").get_data(as_text=True)
    links = re.findall(r'<a href="(/exports/[A-Za-z0-9_-]+)" download>([^<]+)</a>', html)
    xlsx = next(href for href, name in links if name.endswith(".xlsx"))
    admin_client.post("/admin/logout", data={"csrf": csrf_of(admin_client, "/admin")})
    got = web_client.get(xlsx)  # the token is the key: no login needed
    assert got.status_code == 200
    cd = got.headers["Content-Disposition"]
    assert cd.startswith("attachment;") and "filename*=UTF-8''" in cd
    assert "%E5%8F%B8%E6%B3%95%E5%B1%80" in cd  # 司法局, percent-encoded UTF-8
    wb = load_workbook(BytesIO(got.data))
    assert any(
        "司法局" in str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value
    )


def test_district_export_is_queued(admin_client, web_rt):
    token = csrf_of(admin_client, "/admin/exports")
    resp = admin_client.post(
        "/admin/exports/build", data={"csrf": token, "scope": "district"}, follow_redirects=True
    )
    assert "正在生成全区资料目录汇总表" in resp.get_data(as_text=True)
    q = make_queue(web_rt.redis, web_rt.settings.key_prefix)
    assert [q.fetch_job(j).func_name for j in q.job_ids] == ["bot.jobs.export_district"]


def test_unknown_export_token_is_404(web_client):
    assert web_client.get("/exports/" + "A" * 32).status_code == 404
    assert web_client.get("/exports/short").status_code == 404


@pytest.mark.parametrize(
    ("func", "args", "queue", "label"),
    [
        ("bot.jobs.export_department", ("没有这个部门参数",), MAIN, "部门资料目录导出"),
        ("bot.jobs.check_links", ("x", "y", "z", "w"), LINKS, "链接检查"),  # a queue of its own
    ],
)
def test_failed_job_is_shown_and_retried(admin_client, web_rt, func, args, queue, label):
    web_rt.services.enqueue(func, *args, retries=0)
    work(web_rt)  # a TypeError: wrong arguments
    q = make_queue(web_rt.redis, web_rt.settings.key_prefix, queue)
    assert q.failed_job_registry.count == 1
    html = admin_client.get("/admin/deliveries").get_data(as_text=True)
    assert label in html
    jid = re.search(r'name="job_id" value="([^"]+)"', html).group(1)
    token = csrf_of(admin_client, "/admin/deliveries")
    resp = admin_client.post(
        "/admin/jobs/retry", data={"csrf": token, "job_id": jid}, follow_redirects=True
    )
    assert "已重新执行 1 个失败任务" in resp.get_data(as_text=True)
    assert q.failed_job_registry.count == 0 and jid in q.job_ids


def test_dead_letter_is_shown_and_retried(admin_client, web_rt):
    spec = {
        "push_id": "n-1",
        "lease_id": "n-1#a",
        "kind": "notice",
        "department": "司法局",
        "text": "第4项已通过依法治区办审核 <script>x</script>",
        "mentions": [],
        "parts": [1],
        "hop": 2,
    }
    web_rt.store.delivery.add_dead_letter(
        "n-1#a:1",
        {
            "id": "n-1#a:1",
            "spec": spec,
            "parts": [1],
            "department": "司法局",
            "platform": "钉钉",
            "text": spec["text"],
            "error": "多次重试后仍失败（HTTP 502）",
            "status": "failed",
            "at": "2020-08-14 10:00:00",
        },
    )
    html = admin_client.get("/admin/deliveries").get_data(as_text=True)
    assert "司法局群" in html and "多次重试后仍失败（HTTP 502）" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html
    token = csrf_of(admin_client, "/admin/deliveries")
    resp = admin_client.post(
        "/admin/deliveries/retry",
        data={"csrf": token, "entry_id": "n-1#a:1"},
        follow_redirects=True,
    )
    assert "已重新安排投递" in resp.get_data(as_text=True)
    assert web_rt.store.delivery.dead_letters() == []
    q = make_queue(web_rt.redis, web_rt.settings.key_prefix)
    assert [q.fetch_job(j).func_name for j in q.job_ids] == ["bot.delivery_jobs.push"]
    # a second click on the stale page is refused politely
    resp = admin_client.post(
        "/admin/deliveries/retry",
        data={"csrf": token, "entry_id": "n-1#a:1"},
        follow_redirects=True,
    )
    assert "重试未成功" in resp.get_data(as_text=True)


def test_pages_name_people_and_problems_in_words(admin_client, web_rt):
    dept, ind = submitted_dead_link(web_rt, "refused_private")
    say(web_rt, "zhangsan", "导出")
    say(web_rt, "zhangsan", "报送 确认")
    work(web_rt)
    pages = {
        "indicator": admin_client.get(f"/admin/indicators/{ind}").get_data(as_text=True),
        "audit": admin_client.get("/admin/audit").get_data(as_text=True),
        "submissions": admin_client.get("/admin/submissions").get_data(as_text=True),
    }
    for name, page in pages.items():
        for internal in ("sandbox:zhangsan", "refused_private", "system:export", "web:admin"):
            assert internal not in page, (name, internal)
        assert "张三" in page, name
    assert "网址指向内网或保留地址，不予访问" in pages["indicator"]
    assert "生成下载文件" in pages["audit"] and ">export<" not in pages["audit"]
    # the audit filter takes a person's name
    only = admin_client.get("/admin/audit", query_string={"actor": "张三"}).get_data(as_text=True)
    assert 'data-action="submit"' in only and 'data-action="export"' not in only


def test_the_overview_states_the_ranking_rule_and_one_completion_rate(admin_client, web_rt):
    leads = sorted(
        i for (i, d), r in web_rt.assignments.items() if d == "司法局" and r is Role.LEAD
    )
    for ind in leads[:6]:  # lead items weigh 2: enough for the two rates to differ
        say(web_rt, "zhangsan", f"纸质 {ind} 台账")
        say(web_rt, "zhangsan", f"完成 {ind}")
    page = admin_client.get("/admin").get_data(as_text=True)
    assert texts.RANKING_RULE in page
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    rows = admin_client.get("/api/v1/departments", headers=auth).json["departments"]
    done = sum(r["done_weight"] for r in rows)
    weighted = round(done * 100 / sum(r["total_weight"] for r in rows), 0)
    counted = sum(r["done_count"] for r in rows) * 100 / sum(r["total_count"] for r in rows)
    totals = admin_client.get("/api/v1/overview", headers=auth).json["totals"]
    assert totals["percent"] == weighted  # the ranking's 完成率, not done items / all items
    assert f'<span class="muted" id="total-percent">完成率 {totals["percent"]}%</span>' in page
    assert round(counted) != weighted  # (the two definitions differ here)

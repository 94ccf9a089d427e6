"""/sandbox over HTTP: demo only, CSRF, a chat round trip, the outbox, safe rendering."""

from __future__ import annotations

from bot.progress import Role, Status
from bot.web.markup import render_markdown
from tests.http.conftest import csrf_of, runtime_for
from tests.http.conftest import testing_app as app_for


def send(client, token: str, user: str, text: str, admin: bool = False):
    return client.post(
        "/sandbox/send",
        json={"user_id": user, "text": text, "admin": admin},
        headers={"X-CSRF-Token": token},
    )


def test_sandbox_only_in_demo_mode(web_rt, web_settings):
    from app import create_app

    web_rt.settings = web_settings.with_(demo=False)
    client = create_app(runtime=web_rt).test_client()
    assert client.get("/sandbox").status_code == 404
    assert client.post("/sandbox/send", json={"user_id": "a", "text": "帮助"}).status_code == 404
    assert client.get("/sandbox/outbox").status_code == 404


def test_page_lists_the_shipped_people(web_client):
    html = web_client.get("/sandbox").get_data(as_text=True)
    for who in ("张三", "李四", "王五", "依法治区办管理员", "其他用户"):
        assert who in html
    assert 'name="viewport"' in html and "sandbox.js" in html


def test_send_needs_the_csrf_token(web_client, web_rt):
    csrf_of(web_client, "/sandbox")
    resp = web_client.post("/sandbox/send", json={"user_id": "tester", "text": "绑定 司法局"})
    assert resp.status_code == 400
    resp = send(web_client, "forged", "tester", "绑定 司法局")
    assert resp.status_code == 400
    assert web_rt.store.bindings.get("sandbox", "tester") is None


def test_round_trip_bind_submit_done(web_client, web_rt):
    token = csrf_of(web_client, "/sandbox")
    reply = send(web_client, token, "tester", "绑定 司法局").json
    assert "已绑定到**司法局**" in reply["text"]
    assert "<strong>司法局</strong>" in reply["html"]
    ind = min(i for (i, d), r in web_rt.assignments.items() if d == "司法局" and r is Role.LEAD)
    reply = send(web_client, token, "tester", f"提交 {ind} https://www.example.gov.cn/x.html 方案")
    assert f"已收到第{ind}项的 1 个链接" in reply.json["text"]
    reply = send(web_client, token, "tester", f"完成 {ind}")
    assert f"第{ind}项已标记完成" in reply.json["text"]
    assert web_rt.store.assignments.get(ind, "司法局")[0].status is Status.DONE

    outbox = web_client.get("/sandbox/outbox").json
    group = next(g for g in outbox["groups"] if g["department"] == "司法局")
    assert group["label"] == "司法局群"
    assert any("tester 已绑定为司法局成员" in i["html"] for i in group["items"])
    assert outbox["latest"] == group["items"][0]["id"]


def test_admin_pick_and_member_refusal(web_client):
    token = csrf_of(web_client, "/sandbox")
    assert "仅限依法治区办管理员" in send(web_client, token, "zhangsan", "总览").json["text"]
    assert "全区总览" in send(web_client, token, "admin", "总览").json["text"]


def test_the_request_body_cannot_make_anyone_the_office(web_client, web_rt):
    """ "admin": true from the browser is ignored: only the demo's own admin persona (org.yaml)
    acts as the office."""
    token = csrf_of(web_client, "/sandbox")
    before = web_rt.store.assignments.get(12, "司法局")
    for text in ("总览", "退回 12 司法局 伪造的退回", "星标 12", "通过 12 司法局"):
        reply = send(web_client, token, "someone", text, admin=True).json["text"]
        assert "仅限依法治区办管理员" in reply, text
    assert web_rt.store.assignments.get(12, "司法局") == before
    assert web_rt.store.assignments.star_overrides() == {}


def _sandbox_office(settings, clock) -> tuple[str, str]:
    """(the reply of the admin persona to 总览, the sandbox page) on a runtime of `settings`."""
    for rt in runtime_for(settings, clock):
        client = app_for(rt).test_client()
        token = csrf_of(client, "/sandbox")
        page = client.get("/sandbox").get_data(as_text=True)
        return send(client, token, "admin", "总览").json["text"], page
    raise AssertionError("no runtime")


def test_no_office_in_the_sandbox_while_platforms_write_to_the_store(
    web_settings, redis_client, clock
):
    """Demo mode with a platform enabled: real callbacks share the store, so the sandbox's
    admin persona is an ordinary visitor and is not offered on the page."""
    live = web_settings.with_(
        dingtalk_app_key="k", dingtalk_app_secret="s", dingtalk_robot_code="r"
    )
    reply, page = _sandbox_office(live, clock)
    assert "仅限依法治区办管理员" in reply
    assert "依法治区办管理员" not in page


def test_no_office_in_the_sandbox_of_a_store_that_began_live(web_settings, redis_client, clock):
    """A store first used outside demo mode holds real data: turning demo mode on later gives
    the sandbox no office over it."""
    for _ in runtime_for(web_settings.with_(demo=False), clock):
        pass  # a production process prepared the store first
    reply, page = _sandbox_office(web_settings, clock)
    assert "仅限依法治区办管理员" in reply and "依法治区办管理员" not in page
    redis_client.flushdb()
    reply, page = _sandbox_office(web_settings, clock)  # a fresh store, begun in demo mode
    assert "全区总览" in reply and "依法治区办管理员" in page


def test_bad_input_is_refused_politely(web_client):
    token = csrf_of(web_client, "/sandbox")
    assert send(web_client, token, "", "帮助").status_code == 400
    assert send(web_client, token, "x", "  ").status_code == 400
    assert send(web_client, token, "x", "字" * 2001).status_code == 400


def test_review_notice_reaches_the_outbox_of_the_department(web_client, web_rt):
    token = csrf_of(web_client, "/sandbox")
    send(web_client, token, "lisi", "纸质 1 <img src=x onerror=alert(1)>")
    send(web_client, token, "admin", "退回 1 行政审批局 请补充<script>x</script>", admin=True)
    outbox = web_client.get("/sandbox/outbox").json
    group = next(g for g in outbox["groups"] if g["department"] == "行政审批局")
    review = next(i for i in group["items"] if i["kind"] == "review")
    # the reason was made inert for the chats; the page escapes whatever is left
    assert "＜script＞x＜/script＞" in review["html"] and "<script>" not in review["html"]
    assert review["kind_label"] == "审核"


def test_markdown_subset_is_safe():
    html = str(
        render_markdown(
            "**重要** <b>x</b>\n- [方案](https://a.gov.cn/?a=1&b=2)\n- [坏](javascript:alert(1))"
        )
    )
    assert html.startswith("<strong>重要</strong> &lt;b&gt;x&lt;/b&gt;<br><ul>")
    assert '<a href="https://a.gov.cn/?a=1&amp;b=2" target="_blank"' in html
    assert "javascript:" in html and 'href="javascript' not in html
    assert str(render_markdown('[t](https://e.cn/"onmouseover=x)')).count('"') == 6

"""绑定 over HTTP: who is bound where, since when and by whom (from the audit log); 解绑 by the
office (audited, told in the department's chat with the person @-mentioned); and with
DUBAN_BIND_APPROVAL the 绑定 requests the office approves or refuses, the person told either way."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.messages import Incoming, mention
from tests.http.conftest import csrf_of, login, runtime_for
from tests.http.conftest import testing_app as app_for
from tests.outbox import read_outbox


def say(rt, user: str, text: str, name: str = "") -> str:
    n = rt.store.audit.length()
    msg = Incoming(
        "sandbox", user, text, user_name=name, mentioned=True, message_id=f"b-{n}-{user}-{text}"
    )
    return rt.dispatcher.handle(msg).text


def post(client, path: str, token: str, **form) -> str:
    return client.post(path, data={"csrf": token, **form}, follow_redirects=True).get_data(
        as_text=True
    )


def told(rt, dept: str) -> list:
    return [n for _, n, _ in read_outbox(rt.store) if n.department == dept and n.kind == "binding"]


@pytest.fixture
def approval_rt(web_settings, redis_client, clock):
    yield from runtime_for(web_settings.with_(bind_approval=True), clock)


@pytest.fixture
def approval_client(approval_rt):
    client = app_for(approval_rt).test_client()
    assert login(client).status_code == 302
    return client


def test_the_page_lists_who_is_bound_since_when_and_by_whom(admin_client, web_rt):
    assert "已绑定到**司法局**" in say(web_rt, "u-wang", "绑定 司法局", "王五")
    html = admin_client.get("/admin/bindings").get_data(as_text=True)
    row = html[html.index('data-person="sandbox:u-wang"') :]
    row = row[: row.index("</tr>")]
    assert "司法局" in row and "王五" in row
    assert "2020-08-14 10:00" in row  # the clock's Friday 10:00, local time
    assert "<td>王五</td>" in row and "办理人：</span>王五" in row  # bound by themself
    assert "群里发送「绑定 部门」即可绑定" in html  # the policy as it is (off by default)


def test_unbind_from_the_page_is_audited_and_told(admin_client, web_rt):
    say(web_rt, "u-wang", "绑定 司法局", "王五")
    token = csrf_of(admin_client, "/admin/bindings")
    page = post(admin_client, "/admin/bindings/unbind", token, person="sandbox:u-wang")
    assert "已解除「王五」与司法局的绑定，并已在该部门群里通知。" in page
    assert web_rt.store.bindings.get("sandbox", "u-wang") is None
    (entry,) = web_rt.store.audit.entries(count=1, action="unbind")
    assert (entry.actor, entry.department) == ("web:admin", "司法局")
    last = told(web_rt, "司法局")[-1]
    assert "已由依法治区办解除与司法局的绑定" in last.text
    assert last.mentions == (mention("sandbox", "u-wang"),)
    assert 'data-person="sandbox:u-wang"' not in page
    # again: nothing to do, nothing written
    before = web_rt.store.audit.length()
    page = post(admin_client, "/admin/bindings/unbind", token, person="sandbox:u-wang")
    assert "此人已不在绑定名单中，无需解绑。" in page
    assert web_rt.store.audit.length() == before


def test_with_approval_binding_waits_for_the_office_and_approval_binds(
    approval_client, approval_rt
):
    rt = approval_rt
    reply = say(rt, "u-li", "绑定 司法局", "李四")
    assert "已提交绑定到**司法局**的申请" in reply
    assert rt.store.bindings.get("sandbox", "u-li") is None
    assert any(
        "申请绑定为司法局成员" in n.text for _, n, _ in read_outbox(rt.store) if not n.department
    )
    assert "正在等待依法治区办同意" in say(rt, "u-li", "绑定 司法局", "李四")
    # the person is not bound yet: a command needing a department is refused
    html = approval_client.get("/admin/bindings").get_data(as_text=True)
    assert 'class="card bind-request" data-person="sandbox:u-li"' in html
    assert "自行绑定需依法治区办同意" in html
    token = csrf_of(approval_client, "/admin/bindings")
    page = post(
        approval_client, "/admin/bindings/decide", token, person="sandbox:u-li", action="approve"
    )
    assert "已同意「李四」绑定到司法局" in page
    b = rt.store.bindings.get("sandbox", "u-li")
    assert (b.department, b.name) == ("司法局", "李四")
    assert rt.store.bindings.requests() == []
    actions = [e.action for e in rt.store.audit.entries(count=3)]
    assert actions[:2] == ["bind_approve", "bind"]
    last = told(rt, "司法局")[-1]
    assert "绑定申请已获依法治区办同意" in last.text
    assert last.mentions == (mention("sandbox", "u-li"),)
    # listed as bound, by the office
    row = page[page.index('<tr data-person="sandbox:u-li"') :]
    assert "管理后台" in row[: row.index("</tr>")]
    # the same request again: already settled
    before = rt.store.audit.length()
    page = post(
        approval_client, "/admin/bindings/decide", token, person="sandbox:u-li", action="approve"
    )
    assert "这条绑定申请已经处理过了。" in page
    assert rt.store.audit.length() == before


def test_a_refused_request_binds_nobody_and_tells_why(approval_client, approval_rt):
    rt = approval_rt
    say(rt, "u-zhao", "绑定 司法局", "赵六")
    say(rt, "u-zhao", "绑定 教育局", "赵六")  # a newer request replaces the older one
    assert [b.department for b, _ in rt.store.bindings.requests()] == ["教育局"]
    token = csrf_of(approval_client, "/admin/bindings")
    page = approval_client.post(
        "/admin/bindings/decide",
        data={
            "csrf": token,
            "person": "sandbox:u-zhao",
            "action": "refuse",
            "reason": "非本单位人员",
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "已拒绝「赵六」绑定到教育局的申请" in page
    assert rt.store.bindings.get("sandbox", "u-zhao") is None
    assert rt.store.bindings.requests() == []
    (entry,) = rt.store.audit.entries(count=1)
    assert (entry.action, entry.note, entry.actor) == ("bind_refuse", "非本单位人员", "web:admin")
    last = told(rt, "教育局")[-1]
    assert "依法治区办未同意" in last.text and "非本单位人员" in last.text
    assert last.mentions == (mention("sandbox", "u-zhao"),)


def test_an_office_member_still_binds_at_once_with_approval_on(approval_rt):
    msg = Incoming("sandbox", "u-boss", "绑定 司法局", mentioned=True, message_id="m-boss",
                   is_admin=True)  # fmt: skip
    assert "已绑定到**司法局**" in approval_rt.dispatcher.handle(msg).text


@pytest.mark.parametrize(
    "path, form",
    [
        ("/admin/bindings/unbind", {"person": "nobody"}),
        ("/admin/bindings/decide", {"person": "sandbox:u-x", "action": "maybe"}),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(admin_client, web_rt, path, form):
    token = csrf_of(admin_client, "/admin/bindings")
    before = web_rt.store.audit.length()
    resp = admin_client.post(path, data={"csrf": token, **form})
    assert resp.status_code == 400
    assert web_rt.store.audit.length() == before


def test_without_the_csrf_token_nobody_is_unbound(admin_client, web_rt):
    say(web_rt, "u-wang", "绑定 司法局", "王五")
    resp = admin_client.post("/admin/bindings/unbind", data={"person": "sandbox:u-wang"})
    assert resp.status_code == 400
    assert web_rt.store.bindings.get("sandbox", "u-wang") is not None


def test_the_setting_is_read_once_and_checked():
    assert Settings.from_env({}).bind_approval is False
    assert Settings.from_env({"DUBAN_BIND_APPROVAL": "1"}).bind_approval is True
    with pytest.raises(Exception, match="DUBAN_BIND_APPROVAL"):
        Settings.from_env({"DUBAN_BIND_APPROVAL": "maybe"})

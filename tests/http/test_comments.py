"""往来留言: one thread per department × indicator; the office writes on the admin pages (pushed
to the department's chat), the department answers with 留言 in chat (told to the office); both
sides see the thread (the pages, 查看 in chat); bad input changes nothing."""

from __future__ import annotations

import pytest

from bot.messages import Incoming
from bot.records import Binding
from tests.http.conftest import csrf_of
from tests.outbox import read_outbox


def items(rt, dept: str) -> list[int]:
    return sorted(i for (i, d) in rt.assignments if d == dept and i in rt.catalog.regular_ids)


def chat(rt, user: str, text: str) -> str:
    n = rt.store.audit.length()
    msg = Incoming("sandbox", user, text, mentioned=True, message_id=f"c-{n}-{text}")
    return rt.dispatcher.handle(msg).text


@pytest.fixture
def member(web_rt):
    web_rt.store.bindings.set(
        "sandbox", "u-qian", None, Binding("sandbox", "u-qian", "司法局", "钱七"), "test"
    )
    return "u-qian"


def test_a_thread_both_ways(admin_client, web_rt, member):
    ind = items(web_rt, "司法局")[0]
    token = csrf_of(admin_client, f"/admin/indicators/{ind}")
    text = "台账请按年份装订，\n并写明存放位置。"
    page = admin_client.post(
        f"/admin/indicators/{ind}/comment",
        data={"csrf": token, "department": "司法局", "text": text},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"留言已发到司法局的工作群（第{ind}项）。" in page
    assert f'<p class="typed">{text}</p>' in page  # on the page, as written
    pushed = [n for _, n, _ in read_outbox(web_rt.store) if n.department == "司法局"][-1]
    assert f"依法治区办就第{ind}项留言" in pushed.text and "并写明存放位置" in pushed.text
    (entry,) = web_rt.store.audit.entries(count=1, action="comment")
    assert (entry.actor, entry.department, entry.indicator, entry.note) == (
        "web:admin", "司法局", ind, text,
    )  # fmt: skip

    reply = chat(web_rt, member, f"留言 {ind} 已补充，请再看一下")
    assert f"已把留言转给依法治区办（第{ind}项）" in reply
    office = [n for _, n, _ in read_outbox(web_rt.store) if n.department == ""][-1]
    assert f"司法局就第{ind}项留言（钱七）" in office.text and "已补充" in office.text
    html = admin_client.get(f"/admin/indicators/{ind}").get_data(as_text=True)
    assert html.index("并写明存放位置") < html.index("已补充，请再看一下")
    assert 'class="comment from-department"' in html

    seen = chat(web_rt, member, f"查看 {ind}")
    assert "往来留言（共 2 条）" in seen
    assert "- 依法治区办：" in seen and "- 钱七：已补充，请再看一下" in seen


def test_the_queue_shows_the_thread_and_comments_from_there(admin_client, web_rt, member):
    from bot.progress import Status
    from tests.e2e.background import set_status

    ind = items(web_rt, "司法局")[0]
    set_status(web_rt, ind, "司法局", Status.DONE)
    chat(web_rt, member, f"留言 {ind} 第3卷在档案室")
    html = admin_client.get("/admin/review").get_data(as_text=True)
    assert "第3卷在档案室" in html
    token = csrf_of(admin_client, "/admin/review")
    page = admin_client.post(
        f"/admin/indicators/{ind}/comment",
        data={"csrf": token, "department": "司法局", "text": "收到", "back": "/admin/review"},
    )
    assert page.status_code == 302 and page.headers["Location"].endswith("/admin/review")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "请写上留言内容"),
        ("   ", "请写上留言内容"),
        ("超" * 501, "内容过长，请控制在 500 字以内。"),
    ],
)
def test_an_empty_or_too_long_comment_is_refused(admin_client, web_rt, text, said):
    ind = items(web_rt, "司法局")[0]
    token = csrf_of(admin_client, f"/admin/indicators/{ind}")
    before = web_rt.store.audit.length()
    page = admin_client.post(
        f"/admin/indicators/{ind}/comment",
        data={"csrf": token, "department": "司法局", "text": text},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert said in page
    assert web_rt.store.audit.length() == before


def test_a_department_not_responsible_gets_no_comment(admin_client, web_rt):
    ind = items(web_rt, "司法局")[0]
    other = next(d for d in web_rt.org.departments if (ind, d) not in web_rt.assignments)
    token = csrf_of(admin_client, f"/admin/indicators/{ind}")
    before = web_rt.store.audit.length()
    page = admin_client.post(
        f"/admin/indicators/{ind}/comment",
        data={"csrf": token, "department": other, "text": "你好"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"第{ind}项" in page and web_rt.store.audit.length() == before


def test_chat_comment_on_another_departments_item_is_refused(web_rt, member):
    ind = next(
        i for i in sorted(web_rt.catalog.regular_ids) if (i, "司法局") not in web_rt.assignments
    )
    before = web_rt.store.audit.length()
    reply = chat(web_rt, member, f"留言 {ind} 你好")
    assert "已把留言" not in reply and "司法局" in reply
    assert web_rt.store.audit.length() == before
    assert "请写上留言内容" in chat(web_rt, member, f"留言 {items(web_rt, '司法局')[0]}")


def test_without_the_csrf_token_no_comment(admin_client, web_rt):
    ind = items(web_rt, "司法局")[0]
    before = web_rt.store.audit.length()
    resp = admin_client.post(
        f"/admin/indicators/{ind}/comment", data={"department": "司法局", "text": "你好"}
    )
    assert resp.status_code == 400 and web_rt.store.audit.length() == before

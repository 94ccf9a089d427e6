"""A department's fill-in page (issue 15 item 1): the signed link 填报 gives, refused when
tampered with, expired or revoked (a clear Chinese page, no data), every use audited; each form
changes the item by chat's rules, under the person's name, and nothing else."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.messages import Incoming
from bot.progress import Role, Status

DEPT = "司法局"
USER = "zhangsan"  # org.yaml's demo liaison of 司法局 on the sandbox


def say(rt, text: str, user: str = USER) -> str:
    return rt.dispatcher.handle(Incoming("sandbox", user, text, mentioned=True)).text


def link_of(reply: str) -> str:
    m = re.search(r"http://duban\.test(/m/[^\s)]+)", reply)
    assert m, reply
    return m.group(1)


@pytest.fixture
def path(web_rt):
    return link_of(say(web_rt, "填报"))


def ind_of(rt, role: Role) -> int:
    return min(i for (i, d), r in rt.assignments.items() if d == DEPT and r is role)


def csrf(client, page: str) -> str:
    html = client.get(page).get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def version(client, page: str) -> str:
    html = client.get(page).get_data(as_text=True)
    return re.search(r'name="v" value="(\d+)"', html).group(1)


def post(client, path: str, n: int, act: str, **fields):
    page = f"{path}/{n}"
    data = {"csrf": csrf(client, page), "v": version(client, page), **fields}
    return client.post(f"{page}/{act}", data=data)


def state(rt, n: int):
    return rt.store.assignments.get(n, DEPT)[0]


def actions(rt) -> list[tuple[str, str, str]]:
    return [(e.action, e.actor, e.department) for e in rt.store.audit.entries(50)]


# --- the link -------------------------------------------------------------------------------


def test_fill_replies_with_a_link_that_opens_the_departments_items(web_client, web_rt, path):
    resp = web_client.get(path)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert f"{DEPT} · 共" in html
    lead = ind_of(web_rt, Role.LEAD)
    assert f'data-id="{lead}"' in html
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    # issued and opened, both under the person's chat identity
    got = actions(web_rt)
    assert ("fill_open", "sandbox:zhangsan", DEPT) in got
    assert ("fill_link", "sandbox:zhangsan", DEPT) in got


def test_returned_items_come_first_with_their_reason(web_client, web_rt, path):
    lead = ind_of(web_rt, Role.LEAD)
    last = max(i for (i, d) in web_rt.assignments if d == DEPT and i in web_rt.catalog.regular_ids)
    say(web_rt, f"纸质 {last} 台账")
    assert "已退回" in say(web_rt, f"退回 {last} {DEPT} 缺少2020年的台账", user="admin")
    html = web_client.get(path).get_data(as_text=True)
    ids = [int(x) for x in re.findall(r'data-id="(\d+)"', html)]
    assert ids[0] == last and lead in ids
    assert "退回原因：缺少2020年的台账" in html
    returned = web_client.get(f"{path}?f=returned").get_data(as_text=True)
    assert [int(x) for x in re.findall(r'data-id="(\d+)"', returned)] == [last]


def refused(resp, code: int, title: str) -> str:
    html = resp.get_data(as_text=True)
    assert resp.status_code == code, html
    assert title in html and "发送「填报」" in html
    assert DEPT not in html and "data-id" not in html and 'name="csrf"' not in html
    return html


@pytest.mark.parametrize("where", ["id", "expiry", "signature", "cut"])
def test_a_tampered_link_shows_nothing(web_client, web_rt, path, where):
    link_id, exp, sig = path.removeprefix("/m/").split(".")
    flip = {"A": "B"}.get
    changed = {
        "id": f"{link_id[:-1]}{flip(link_id[-1], 'A')}.{exp}.{sig}",
        "expiry": f"{link_id}.{exp[:-1]}{'z' if exp[-1] != 'z' else 'y'}.{sig}",
        "signature": f"{link_id}.{exp}.{sig[:-1]}{flip(sig[-1], 'A')}",
        "cut": f"{link_id}.{exp}",
    }[where]
    refused(web_client.get(f"/m/{changed}"), 404, "链接无效")
    refused(web_client.get(f"/m/{changed}/{ind_of(web_rt, Role.LEAD)}"), 404, "链接无效")


def test_a_link_expires_after_the_configured_days(web_client, web_rt, path, clock):
    n = ind_of(web_rt, Role.LEAD)
    assert web_rt.settings.fill_link_days == 7
    clock.now += timedelta(days=6, hours=23)
    assert web_client.get(path).status_code == 200
    token = csrf(web_client, f"{path}/{n}")
    clock.now += timedelta(hours=2)
    refused(web_client.get(path), 410, "链接已过期")
    # a form sent from the page still open changes nothing
    before = state(web_rt, n)
    resp = web_client.post(f"{path}/{n}/paper", data={"csrf": token, "title": "台账"})
    refused(resp, 410, "链接已过期")
    assert state(web_rt, n) == before
    assert ("fill_refused", "sandbox:zhangsan", DEPT) in actions(web_rt)


def test_a_new_link_revokes_the_last(web_client, web_rt, path):
    newer = link_of(say(web_rt, "填报"))
    assert newer != path
    refused(web_client.get(path), 410, "链接已失效")
    assert web_client.get(newer).status_code == 200


def test_unbinding_revokes_the_link(web_client, web_rt, path):
    assert "已解除" in say(web_rt, "解绑")
    refused(web_client.get(path), 410, "链接已失效")
    assert "绑定" in say(web_rt, f"绑定 {DEPT}")
    refused(web_client.get(path), 410, "链接已失效")


def test_my_tasks_ends_with_the_link_and_keeps_it(web_client, web_rt, path):
    reply = say(web_rt, "我的任务")
    lines = reply.split("\n")
    assert len(lines) <= 15
    # the last line is the buttons line (a card's buttons where the platform has cards)
    assert lines[-1].startswith("➜ [打开填报页](") and f"(http://duban.test{path})" in lines[-1]
    assert "第2页" not in reply  # the page lists the rest: no paging hint
    assert "还有" in reply and "填报页" in lines[-2]
    assert web_client.get(path).status_code == 200  # 我的任务 did not revoke it


# --- the forms -------------------------------------------------------------------------------


def test_add_a_link_then_delete_then_undo(web_client, web_rt, path):
    n = ind_of(web_rt, Role.LEAD)
    url = "https://www.example.gov.cn/sfj/2020/plan.html"
    resp = post(web_client, path, n, "link", url=url, name="2020年普法工作方案（定稿）")
    assert resp.status_code == 302
    a = state(web_rt, n)
    assert [(m.title, m.url, m.added_by) for m in a.materials] == [
        ("2020年普法工作方案（定稿）", url, "张三")
    ]
    assert a.status is Status.IN_PROGRESS
    assert ("submit", "sandbox:zhangsan", DEPT) in actions(web_rt)
    assert url in web_rt.store.links.queued()  # checked like a link sent in chat
    html = web_client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已添加第" in html and "2020年普法工作方案（定稿）" in html

    assert post(web_client, path, n, "delete", number="1").status_code == 302
    assert state(web_rt, n).materials == ()
    assert post(web_client, path, n, "undo").status_code == 302
    assert [m.url for m in state(web_rt, n).materials] == [url]
    # and chat sees the same item: 撤销 in chat reverts the page's 提交
    assert "已撤销" in say(web_rt, f"撤销 {n}")
    assert state(web_rt, n).materials == ()


def test_paper_item_with_its_place(web_client, web_rt, path):
    n = ind_of(web_rt, Role.LEAD)
    resp = post(web_client, path, n, "paper", title="2019年执法案卷评查记录", place="档案室3号柜")
    assert resp.status_code == 302
    m = state(web_rt, n).materials[-1]
    assert (m.title, m.location, m.url) == ("2019年执法案卷评查记录", "档案室3号柜", "")
    assert ("paper", "sandbox:zhangsan", DEPT) in actions(web_rt)
    # one without its place gets it later, next to it on the page
    post(web_client, path, n, "paper", title="2020年普法台账", place="")
    html = web_client.get(f"{path}/{n}").get_data(as_text=True)
    assert html.count('name="where"') == 1
    assert post(web_client, path, n, "place", number="2", where="机要室").status_code == 302
    assert state(web_rt, n).materials[1].location == "机要室"
    assert ("place", "sandbox:zhangsan", DEPT) in actions(web_rt)


EXPLANATION = (
    "  我局2019年以来：\n"
    "一、开展“双随机、一公开”抽查36次；\n"
    "\n"
    "二、（详见附件）——全部公开！\t\n"
    "三、ＡＢＣ　１２３。  "
)


def test_the_explanation_is_kept_byte_for_byte(web_client, web_rt, path):
    n = ind_of(web_rt, Role.LEAD)
    # a browser sends a textarea's line breaks as CR LF
    resp = post(web_client, path, n, "explain", text=EXPLANATION.replace("\n", "\r\n"))
    assert resp.status_code == 302
    stored = state(web_rt, n).explanation
    assert stored.encode() == EXPLANATION.encode()
    html = web_client.get(f"{path}/{n}").get_data(as_text=True)
    # the textarea shows it again as stored (its first line break is the one HTML drops)
    assert f">\n{EXPLANATION}</textarea>" in html
    assert ("explain", "sandbox:zhangsan", DEPT) in actions(web_rt)


def test_done_needs_material_then_marks_done(web_client, web_rt, path):
    n = ind_of(web_rt, Role.LEAD)
    before = state(web_rt, n)
    resp = post(web_client, path, n, "done")
    assert resp.status_code == 400
    assert "还没有材料或说明，不能标记完成" in resp.get_data(as_text=True)
    assert state(web_rt, n) == before
    post(web_client, path, n, "paper", title="台账", place="档案室")
    assert post(web_client, path, n, "done").status_code == 302
    assert state(web_rt, n).status is Status.DONE
    assert ("done", "sandbox:zhangsan", DEPT) in actions(web_rt)
    assert post(web_client, path, n, "undo").status_code == 302
    assert state(web_rt, n).status is Status.IN_PROGRESS


def test_not_applicable_with_a_reason_only_for_a_cooperating_unit(web_client, web_rt, path):
    co = ind_of(web_rt, Role.COOPERATE)
    resp = post(web_client, path, co, "na", reason="")
    assert resp.status_code == 400 and "请写明不涉及的原因" in resp.get_data(as_text=True)
    assert post(web_client, path, co, "na", reason="我单位无政府购买服务项目").status_code == 302
    a = state(web_rt, co)
    assert (a.status, a.reason) == (Status.NOT_APPLICABLE, "我单位无政府购买服务项目")
    lead = ind_of(web_rt, Role.LEAD)
    resp = post(web_client, path, lead, "na", reason="无")
    assert resp.status_code == 400 and "牵头单位" in resp.get_data(as_text=True)
    assert state(web_rt, lead).status is Status.TODO


def test_bad_input_is_refused_in_chinese_and_changes_nothing(web_client, web_rt, path):
    n = ind_of(web_rt, Role.LEAD)
    before, audit = state(web_rt, n), web_rt.store.audit.length()
    for fields in (
        {"url": "www.example.gov.cn/a.html", "name": "方案"},
        {"url": "https://a.gov.cn/x https://b.gov.cn/y", "name": ""},
        {"url": "", "name": "方案"},
        {"url": "https://a.gov.cn/x", "name": "坏\x00字符"},
    ):
        resp = post(web_client, path, n, "link", **fields)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400, fields
        assert 'role="alert"' in html
        # what was typed is still in the form
        assert fields["url"].split(" ")[0] in html
    assert post(web_client, path, n, "explain", text="   \r\n ").status_code == 400
    assert post(web_client, path, n, "paper", title="", place="档案室").status_code == 400
    assert post(web_client, path, n, "delete", number="3").status_code == 400
    assert state(web_rt, n) == before
    # only the page views were audited
    assert {e.action for e in web_rt.store.audit.entries(web_rt.store.audit.length() - audit)} == {
        "fill_open"
    }


def test_every_form_needs_its_csrf_token_and_the_current_version(web_client, web_rt, path):
    n = ind_of(web_rt, Role.LEAD)
    web_client.get(f"{path}/{n}")
    before = state(web_rt, n)
    resp = web_client.post(f"{path}/{n}/paper", data={"title": "台账", "v": before.version})
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    assert state(web_rt, n) == before
    # a form from before a change made in chat changes nothing
    page = f"{path}/{n}"
    token, seen = csrf(web_client, page), version(web_client, page)
    say(web_rt, f"纸质 {n} 群里登记的台账")
    resp = web_client.post(f"{page}/paper", data={"csrf": token, "v": seen, "title": "台账"})
    assert resp.status_code == 400 and "刚有变动" in resp.get_data(as_text=True)
    assert [m.title for m in state(web_rt, n).materials] == ["群里登记的台账"]


def test_another_departments_item_is_not_shown_or_changed(web_client, web_rt, path):
    other = next(
        i for i in sorted(web_rt.catalog.regular_ids) if (i, DEPT) not in web_rt.assignments
    )
    resp = web_client.get(f"{path}/{other}")
    assert resp.status_code == 302
    token = csrf(web_client, f"{path}/{ind_of(web_rt, Role.LEAD)}")
    resp = web_client.post(f"{path}/{other}/paper", data={"csrf": token, "title": "台账"})
    assert resp.status_code == 302
    assert web_rt.store.assignments.get(other, DEPT)[0] is None


def test_star_and_lead_are_marked_and_led_items_show_the_other_units(web_client, web_rt, path):
    regular = web_rt.catalog.regular_ids
    leads = sorted(
        i
        for (i, d), r in web_rt.assignments.items()
        if d == DEPT and r is Role.LEAD and i in regular
    )
    starred = leads[-1]
    assert "★" in say(web_rt, f"星标 {starred}", user="admin")
    html = web_client.get(path).get_data(as_text=True)
    ids = [int(x) for x in re.findall(r'data-id="(\d+)"', html)]
    assert ids[0] == starred  # lead and ★ first among the open items
    first = html[html.index(f'data-id="{starred}"') :][:600]
    assert 'class="star"' in first and "牵头" in first
    # a led item names its cooperating units and how far each is
    led = next(i for i in leads if len(web_rt.services.units_of[i]) > 1)
    other = next(d for d in web_rt.services.units_of[led] if d != DEPT)
    page = web_client.get(f"{path}/{led}").get_data(as_text=True)
    assert 'id="units"' in page and other in page
    n_units = len(web_rt.services.units_of[led]) - 1
    assert f"配合单位 {n_units} 个：未开始 {n_units}" in page
    # bonus and deduction items never count: listed under 全部 only, after the others
    extra = [i for (i, d) in web_rt.assignments if d == DEPT and i not in regular]
    assert extra and not set(extra) & set(ids)
    everything = web_client.get(f"{path}?f=all").get_data(as_text=True)
    listed = [int(x) for x in re.findall(r'data-id="(\d+)"', everything)]
    assert listed[-len(extra) :] == sorted(extra) and "不计入进度" in everything
    assert f"共 {len(ids)} 项" in html


def test_the_office_sees_each_use_in_the_audit_log(admin_client, web_rt):
    path = link_of(say(web_rt, "填报"))
    admin_client.get(path)
    html = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "发填报页链接" in html and "打开填报页" in html


def test_my_tasks_renews_a_link_about_to_expire(web_client, web_rt, path, clock):
    clock.now += timedelta(days=6, hours=1)
    newer = link_of(say(web_rt, "我的任务").split("\n")[-1])
    assert newer != path and newer.startswith("/m/")
    refused(web_client.get(path), 410, "链接已失效")
    assert web_client.get(newer).status_code == 200


def test_a_starred_item_takes_its_rectification_before_done(web_client, web_rt, path):
    n = ind_of(web_rt, Role.LEAD)
    assert "★" in say(web_rt, f"星标 {n}", user="admin")
    post(web_client, path, n, "paper", title="台账", place="档案室")
    resp = post(web_client, path, n, "done")
    assert resp.status_code == 400 and "整改说明" in resp.get_data(as_text=True)
    fix = "已于8月完成清理：\r\n废止3件。"
    assert post(web_client, path, n, "rectify", fix=fix).status_code == 302
    assert state(web_rt, n).rectification == fix.replace("\r\n", "\n")
    assert post(web_client, path, n, "done").status_code == 302
    assert state(web_rt, n).status is Status.DONE
    assert ("rectify", "sandbox:zhangsan", DEPT) in actions(web_rt)

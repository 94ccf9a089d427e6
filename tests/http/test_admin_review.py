"""Review from the admin pages calls the rules directly: a department whose name holds a space
or a separator (which a command sentence would split) is reviewed exactly as chosen."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import rules
from bot.progress import Role, Status
from bot.queue import make_queue
from tests.http.conftest import csrf_of, login, runtime_for
from tests.http.conftest import testing_app as app_for
from tests.outbox import read_outbox

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["民政局 社会组织管理局", "民政局、社会组织管理局", "民政局,社会组织"])
def odd_rt(request, web_settings, redis_client, clock, tmp_path, monkeypatch):
    """The seed's organisation with 民政局 renamed to `request.param` (its old name an alias,
    so the table's phrases still reach it)."""
    org = (ROOT / "org.yaml").read_text(encoding="utf-8")
    old = "  - name: 民政局\n    aliases: [区民政局]\n"
    assert old in org
    org = org.replace(old, f'  - name: "{request.param}"\n    aliases: [区民政局, 民政局]\n')
    (tmp_path / "org.yaml").write_text(org, encoding="utf-8")
    monkeypatch.setenv("DUBAN_ORG", str(tmp_path / "org.yaml"))
    yield from runtime_for(web_settings.with_(org_path=str(tmp_path / "org.yaml")), clock)


def with_paper(rt, department: str) -> int:
    """One of the department's items, with a paper material in it (saved through the rules)."""
    ind_id = min(
        i for (i, d), r in rt.assignments.items() if d == department and r is Role.COOPERATE
    )
    a, raw = rt.store.assignments.get(ind_id, department)
    at = rt.store.now_iso()
    edit = rules.add_paper(a, rt.catalog.get(ind_id), "台账", "", who="", by="sandbox:x", at=at)
    rt.store.assignments.save(rules.to_change(a, raw, edit, "sandbox:x", False, rt.catalog))
    return ind_id


def test_a_department_name_with_a_separator_is_reviewed_as_chosen(odd_rt):
    dept = next(d for d in odd_rt.org.departments if d.startswith("民政局"))
    ind = with_paper(odd_rt, dept)
    client = app_for(odd_rt).test_client()
    assert login(client).status_code == 302
    token = csrf_of(client, f"/admin/indicators/{ind}")
    reason = "缺少 2020 年台账，请补充"

    resp = client.post(
        f"/admin/indicators/{ind}/review",
        data={"csrf": token, "department": dept, "action": "return", "reason": reason},
        follow_redirects=True,
    )
    assert f"已退回{dept}第{ind}项" in resp.get_data(as_text=True)
    a = odd_rt.store.assignments.get(ind, dept)[0]
    assert (a.status, a.reason) == (Status.RETURNED, reason)
    (entry,) = odd_rt.store.audit.entries(count=1, department=dept, action="return")
    assert (entry.actor, entry.note) == ("web:admin", reason)
    notices = [n for _, n, _ in read_outbox(odd_rt.store) if n.department == dept]
    assert any(reason in n.text for n in notices)

    resp = client.post(
        f"/admin/indicators/{ind}/review",
        data={"csrf": token, "department": dept, "action": "approve", "confirm": "1"},
        follow_redirects=True,
    )
    assert f"已通过{dept}第{ind}项" in resp.get_data(as_text=True)
    assert odd_rt.store.assignments.get(ind, dept)[0].status is Status.APPROVED


def test_approving_twice_from_the_page_changes_nothing_the_second_time(odd_rt):
    dept = next(d for d in odd_rt.org.departments if d.startswith("民政局"))
    ind = with_paper(odd_rt, dept)
    client = app_for(odd_rt).test_client()
    login(client)
    token = csrf_of(client, f"/admin/indicators/{ind}")
    data = {"csrf": token, "department": dept, "action": "approve", "confirm": "1"}
    client.post(f"/admin/indicators/{ind}/review", data=data)
    before = odd_rt.store.audit.length()
    page = client.post(f"/admin/indicators/{ind}/review", data=data, follow_redirects=True)
    assert "已经审核通过，无需重复操作" in page.get_data(as_text=True)
    assert odd_rt.store.audit.length() == before


def test_remind_and_export_name_such_a_department_whole(odd_rt):
    dept = next(d for d in odd_rt.org.departments if d.startswith("民政局"))
    client = app_for(odd_rt).test_client()
    login(client)
    token = csrf_of(client, "/admin")
    page = client.post(
        "/admin/remind", data={"csrf": token, "department": dept}, follow_redirects=True
    ).get_data(as_text=True)
    assert f"已安排向{dept}推送催办提醒" in page
    page = client.post(
        "/admin/exports/build",
        data={"csrf": token, "scope": "department", "department": dept},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"正在生成{dept}的资料目录" in page
    q = make_queue(odd_rt.redis, odd_rt.settings.key_prefix)
    jobs = {q.fetch_job(j).func_name: q.fetch_job(j).kwargs for j in q.job_ids}
    assert jobs["bot.jobs.send_reminders"]["department"] == dept
    assert jobs["bot.jobs.export_department"]["department"] == dept
    assert jobs["bot.jobs.export_department"]["to_office"] is True


def test_the_api_reviews_such_a_department_by_its_full_name(odd_rt):
    dept = next(d for d in odd_rt.org.departments if d.startswith("民政局"))
    ind = with_paper(odd_rt, dept)
    client = app_for(odd_rt).test_client()
    body = {"indicator": ind, "department": dept, "action": "return", "reason": "缺 台账"}
    resp = client.patch("/api/v1/assignments", json=body, headers={"Authorization": "Bearer tok"})
    assert resp.status_code == 200, resp.json
    a = odd_rt.store.assignments.get(ind, dept)[0]
    assert (a.status, a.reason) == (Status.RETURNED, "缺 台账")

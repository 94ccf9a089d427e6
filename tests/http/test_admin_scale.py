"""The reads that keep the office's pages fast at 1,000 departments show what the slower reads
showed: an indicator's and a department's history from the per-process index of the log (also
after new entries and after the store is emptied), and the cockpit's dead links counted in one
script call."""

from __future__ import annotations

from bot.progress import Material, Status
from bot.web import cockpit, history
from tests.e2e.background import set_status


def _ids(entries) -> list[str]:
    return [e.id for e in entries]


def _work(rt, dept: str, n: int) -> list[int]:
    """n audited changes of `dept`'s items, alternating between its first two items."""
    ids = sorted(i for (i, d) in rt.assignments if d == dept)[:2]
    for k in range(n):
        set_status(rt, ids[k % 2], dept, Status.IN_PROGRESS, explanation=f"第{k}次")
    return ids


def test_history_from_the_index_is_the_log_filtered(web_rt):
    a, b = web_rt.assigned_departments()[:2]
    ids = _work(web_rt, a, 5) + _work(web_rt, b, 4)
    for ind in ids:
        want, _ = web_rt.store.audit.page(count=3, indicator=ind)
        assert _ids(history.recent(web_rt, 3, indicator=ind)) == _ids(want) != []
    want, _ = web_rt.store.audit.page(count=200, department=a)
    got = history.recent(web_rt, 200, department=a)
    assert got == want and len(got) == 5
    # new entries are read on the next look (only those: the index goes on from its last id)
    _work(web_rt, a, 2)
    want, _ = web_rt.store.audit.page(count=20, department=a)
    assert history.recent(web_rt, 20, department=a) == want and len(want) == 7
    assert history.recent(web_rt, 20, department="没有这个部门") == []


def test_history_starts_over_when_the_store_was_emptied(web_rt, redis_client):
    a = web_rt.assigned_departments()[0]
    _work(web_rt, a, 3)
    assert len(history.recent(web_rt, 20, department=a)) == 3
    redis_client.flushdb()
    web_rt.store.assignments.sync(web_rt.assignments)
    _work(web_rt, a, 1)
    want, _ = web_rt.store.audit.page(count=20, department=a)
    assert history.recent(web_rt, 20, department=a) == want and len(want) == 1


def test_the_cockpit_keeps_what_it_read_when_the_log_is_trimmed_at_its_cap(web_rt, redis_client):
    """The audit log is capped (MAXLEN ~): once full, each new entry trims an old one, so the
    log is shorter than what the cockpit has read. That is not an emptied store: the cockpit
    keeps the changes it read (the burn-up's early days) and reads only what is new. Before
    the fix it took "shorter than what I read" for "emptied" and started over, from the
    trimmed log, at every view."""
    a = web_rt.assigned_departments()[0]
    _work(web_rt, a, 4)
    first = cockpit.scan(web_rt)
    _work(web_rt, a, 2)
    # what the cap does to the oldest entries
    redis_client.xtrim(web_rt.store.keys.audit, maxlen=3, approximate=False)
    again = cockpit.scan(web_rt)
    assert again.changes[: len(first.changes)] == first.changes
    assert len(again.changes) == len(first.changes) + 2


def test_indicator_and_department_pages_list_the_newest_entries(admin_client, web_rt):
    a = web_rt.assigned_departments()[0]
    ind = _work(web_rt, a, 3)[0]
    page = admin_client.get(f"/admin/indicators/{ind}").get_data(as_text=True)
    table = page.split('id="history"')[1].split("</table>")[0]
    assert table.count(f"<td>{a}</td>") == 2  # changes 0 and 2 were on this item
    dept_page = admin_client.get(f"/admin/departments/{a}").get_data(as_text=True)
    assert dept_page.count("→ 进行中") >= 1


def test_dead_links_are_those_checked_and_failed(web_rt):
    s = web_rt.store
    base = "https://www.example.gov.cn/"
    s.links.record(base + "ok", {"ok": True, "status": 200})
    s.links.record(base + "gone", {"ok": False, "status": 404, "error": "http_404"})
    s.links.record(base + "odd", {"status": 500})  # checked, no ok flag: not working
    urls = [base + x for x in ("ok", "gone", "odd", "never-checked", "gone")]
    states = s.links.states(urls)
    assert s.links.dead(urls) == {u for u in urls if states.get(u, {}).get("ok") is False}
    assert s.links.dead(urls) == {base + "gone", base + "odd"}
    assert s.links.dead([]) == set()


def test_the_overview_counts_each_departments_dead_links_once(admin_client, web_rt):
    from bot.web import cockpit

    a, b = web_rt.assigned_departments()[:2]
    gone, fine = "https://www.example.gov.cn/gone.html", "https://www.example.gov.cn/fine.html"
    ia = sorted(i for (i, d) in web_rt.assignments if d == a)[:2]
    ib = sorted(i for (i, d) in web_rt.assignments if d == b)[0]
    for i in ia:  # the same dead link twice in one department counts once
        set_status(web_rt, i, a, Status.IN_PROGRESS, materials=(Material("公示", gone),))
    set_status(web_rt, ib, b, Status.IN_PROGRESS, materials=(Material("台账", fine),))
    web_rt.store.links.record(gone, {"ok": False, "status": 404, "error": "http_404"})
    web_rt.store.links.record(fine, {"ok": True, "status": 200})
    rows = {r["department"]: r for r in cockpit.behind(web_rt)["rows"]}
    assert rows[a]["dead_links"] == 1 and rows[b]["dead_links"] == 0
    assert "失效链接 1 个" in admin_client.get("/admin").get_data(as_text=True)


def test_pages_kept_per_process_show_a_change_on_the_next_view(admin_client, web_rt):
    """The overview's and the matrix's per-process results are kept for an unchanged status
    index only: after a change the next view shows it."""
    import re

    dept = web_rt.assigned_departments()[0]
    ind = sorted(
        i for (i, d) in web_rt.assignments if d == dept and i in web_rt.catalog.regular_ids
    )[0]

    def progress_cell() -> str:
        html = admin_client.get("/admin").get_data(as_text=True)
        row = re.search(rf'<tr data-department="{dept}">(.*?)</tr>', html, re.S).group(1)
        return re.search(r'class="num done-count"[^>]*>(\d+)/\d+<', row).group(1)

    def matrix_cell() -> str:
        html = admin_client.get("/admin/matrix").get_data(as_text=True)
        row = re.search(rf'<tr id="d-[0-9a-f]+" data-department="{dept}"(.*?)</tr>', html, re.S)
        return re.search(
            rf'data-status="(\w+)"><a href="/admin/indicators/{ind}#', row.group(1)
        ).group(1)

    before, cell = progress_cell(), matrix_cell()
    assert (progress_cell(), matrix_cell()) == (before, cell)  # kept: the same answer
    set_status(web_rt, ind, dept, Status.DONE)
    assert int(progress_cell()) == int(before) + 1
    assert (cell, matrix_cell()) == ("todo", "done")

"""The cockpit in headless Chromium on a phone (390×844) and a desktop (1366×900): who is behind
on the first screen, a department page with its burn-up and 催办, the matrix as a list."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from bot.progress import Material, Status
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_admin_browser import login
from tests.e2e.background import set_status

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
SIZES = [("phone", PHONE), ("desktop", DESKTOP)]


def campaign_under_way(rt) -> None:
    """A few days of work: some departments done in part, one item returned, a dead link."""
    clock = rt.store.clock
    start = clock.now
    work = {"司法局": 12, "行政审批局": 8, "教育局": 3, "北京中路街道": 5}
    for day in range(3):
        clock.now = start.replace(day=start.day + day - 1)
        for dept, n in work.items():
            ids = sorted(i for (i, d) in rt.assignments if d == dept)
            for i in ids[day * n // 3 : (day + 1) * n // 3]:
                set_status(rt, i, dept, Status.DONE)
    clock.now = start
    ids = sorted(i for (i, d) in rt.assignments if d == "民政局")
    set_status(rt, ids[0], "民政局", Status.RETURNED, reason="缺少2019年台账")
    url = "https://www.example.gov.cn/gone.html"
    set_status(rt, ids[1], "民政局", Status.IN_PROGRESS, materials=(Material("公示", url),))
    rt.store.links.record(url, {"ok": False, "status": 404, "error": "http_404"})


def screen(page, name: str) -> None:
    """What the person sees without scrolling, next to the full-page shots."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


@pytest.mark.parametrize(("label", "size"), SIZES)
def test_overview_shows_who_is_behind_first(page, live_url, web_rt, shot, label, size):
    campaign_under_way(web_rt)
    page.set_viewport_size(size)
    login(page, live_url)
    rows = page.locator("#behind > li")
    expect(rows.first).to_be_visible()
    for i in range(5):  # the five most behind, whole, on the first screen
        box = rows.nth(i).bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= size["height"], (i, box)
    # why each is behind is read whole, not cut off with "…" (民政局 has the most reasons)
    cut = rows.locator(".who small").evaluate_all(
        "els => els.filter(e => e.scrollWidth > e.clientWidth).map(e => e.textContent)"
    )
    assert not cut, cut
    ranks = [int(r) for r in rows.evaluate_all("els => els.map(e => e.dataset.rank)")]
    assert ranks == sorted(ranks) and ranks[0] == 1
    expect(page.locator("#behind-rule")).to_contain_text("同分并列同一名次")
    expect(page.locator("#district-burnup polyline.done")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screen(page, f"cockpit-overview-{label}-first-screen")
    shot(page, f"cockpit-overview-{label}")
    # the most behind is a tap away from its page
    first = rows.first.get_attribute("data-department")
    rows.first.locator("a").click()
    expect(page.locator("#dept-name")).to_have_text(first)
    expect(page).to_have_url(re.compile(r"/admin/departments/"))


@pytest.mark.parametrize(("label", "size"), SIZES)
def test_department_page_and_remind_with_cool_down(page, live_url, web_rt, shot, label, size):
    campaign_under_way(web_rt)
    page.set_viewport_size(size)
    login(page, live_url)
    page.locator(
        '#behind-section a[data-focus="民政局"], #progress-table a[data-focus="民政局"]'
    ).first.click()
    expect(page.locator("#dept-name")).to_have_text("民政局")
    expect(page.locator("#dept-standing")).to_contain_text("退回 1 项")
    expect(page.locator("#dept-standing")).to_contain_text("失效链接 1 个")
    expect(page.locator("#dept-burnup")).to_be_visible()
    expect(page.locator('details.status-group[data-status="returned"]')).to_contain_text(
        "退回原因：缺少2019年台账"
    )
    page.once("dialog", lambda d: d.accept())
    page.click("#remind-dept")
    expect(page.locator(".flash")).to_contain_text("已安排向民政局推送催办提醒")
    expect(page.locator("#remind-cooldown")).to_contain_text("分钟后可再次催办")
    expect(page.locator("#remind-dept")).to_be_disabled()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, f"cockpit-department-{label}")
    screen(page, f"cockpit-department-{label}-first-screen")
    # the department tapped on the overview is the one the matrix highlights
    page.click("nav a[href='/admin/matrix']")
    focused = page.locator(".focus[data-department='民政局']:visible")
    expect(focused.first).to_be_visible()
    screen(page, f"cockpit-matrix-{label}-focused")


def test_matrix_rows_open_as_lists_on_a_phone_and_filters_work(page, live_url, web_rt, shot):
    campaign_under_way(web_rt)
    page.set_viewport_size(PHONE)
    login(page, live_url)
    page.goto(f"{live_url}/admin/departments/司法局")
    page.click("#dept-in-matrix")
    row = page.locator("details.mrow.focus")
    expect(row).to_have_attribute("data-department", "司法局")
    expect(row.locator("ul.mitems li").first).to_be_visible()
    expect(page.locator("#matrix")).to_be_hidden()  # the wide table stays for desktops
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, "cockpit-matrix-phone-list")
    with page.expect_navigation():
        page.select_option("#f-status", "done")
    expect(page).to_have_url(re.compile(r"focus="))  # the highlight survives a filter
    expect(page.locator("details.mrow.focus")).to_have_attribute("data-department", "司法局")
    with page.expect_navigation():
        page.select_option("#f-status", "returned")
    rows = page.locator("details.mrow")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-department", "民政局")
    # the highlighted 司法局 has no 已退回 item: the note says so instead of pointing at nothing
    expect(page.locator("#matrix-focus")).to_contain_text("司法局（不在当前筛选结果中）")
    rows.first.locator("summary").click()
    items = rows.first.locator("ul.mitems li")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-status", "returned")
    shot(page, "cockpit-matrix-phone-filtered")

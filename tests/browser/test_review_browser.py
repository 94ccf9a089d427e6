"""待审核 in headless Chromium on a phone (390×844) and a desktop (1366×900): tick three rows
and 通过所选, then 退回 one with a reason and a 返工期限; the result shows at the top of the
queue and the rows are gone."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from bot.progress import Material, Status
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_admin_browser import lead_indicator, login
from tests.e2e.background import set_status
from tests.outbox import read_outbox

SIZES = [("phone", {"width": 390, "height": 844}), ("desktop", {"width": 1366, "height": 900})]


def waiting(rt) -> list[tuple[int, str]]:
    """Five 已完成 items, an hour apart (three of 司法局, two of 教育局), the last with a dead
    link, a paper volume and two lines of explanation."""
    clock = rt.store.clock
    made = []
    for dept, n in (("司法局", 3), ("教育局", 2)):
        for i in sorted(i for (i, d) in rt.assignments if d == dept)[:n]:
            made.append((i, dept))
    url = "https://www.example.gov.cn/gone.html"
    rt.store.links.record(url, {"ok": False, "status": 404, "error": "http_404"})
    for n, (i, dept) in enumerate(made):
        extra = {}
        if n == len(made) - 1:
            extra = {
                "materials": (
                    Material("公示网页", url, "张三"),
                    Material("2020年执法台账", "", "张三", "", "档案室2号柜第3卷"),
                ),
                "explanation": "已按要求公示。\n台账已装订成册。",
            }
        set_status(rt, i, dept, Status.DONE, **extra)
        clock.now += timedelta(hours=1)
    return made


def screen(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def in_view(page, locator, height: int) -> None:
    box = locator.bounding_box()
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= height, box


def row(page, ind: int, dept: str):
    return page.locator(f'article.queue-row[data-indicator="{ind}"][data-department="{dept}"]')


@pytest.mark.parametrize(("label", "size"), SIZES)
def test_bulk_approve_three_and_return_one_with_a_date(page, live_url, web_rt, shot, label, size):
    made = waiting(web_rt)
    page.set_viewport_size(size)
    login(page, live_url)
    page.goto(f"{live_url}/admin/review")
    expect(page.locator("article.queue-row")).to_have_count(len(made))
    order = page.locator("article.queue-row").evaluate_all(
        "els => els.map(e => [Number(e.dataset.indicator), e.dataset.department])"
    )
    assert [tuple(x) for x in order] == made  # oldest first
    last = row(page, *made[-1])
    expect(last.locator(".link-bad")).to_contain_text("无法打开")
    expect(last).to_contain_text("存放：档案室2号柜第3卷")
    shown = last.locator(".explanation").evaluate("e => e.innerText")  # as laid out
    assert shown == "已按要求公示。\n台账已装订成册。"
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, f"review-queue-{label}")

    # bulk: tick the first three, 通过所选
    for ind, dept in made[:3]:
        row(page, ind, dept).locator('input[type="checkbox"]').check()
    page.locator("#bulk-approve").click()
    flash = page.locator(".flash li.ok")
    expect(flash).to_have_text("已通过 3 项，已通知相关部门。")
    in_view(page, flash, size["height"])
    expect(page.locator("article.queue-row")).to_have_count(len(made) - 3)
    for ind, dept in made[:3]:
        expect(row(page, ind, dept)).to_have_count(0)
        assert web_rt.store.assignments.get(ind, dept)[0].status is Status.APPROVED
    told = [(n.department, n.text) for _, n, _ in read_outbox(web_rt.store)]
    for ind, dept in made[:3]:  # each department told of each item, one notice each
        assert sum(d == dept and f"第{ind}项已通过" in t for d, t in told) == 1, (ind, dept)
    screen(page, f"review-queue-{label}-after-bulk-approve")

    # one row: 退回… with a reason and a 返工期限
    ind, dept = made[3]
    r = row(page, ind, dept)
    r.locator("summary").click()
    r.locator('input[name="reason"]').fill("缺少2019年台账，请补充")
    r.locator('input[name="rework"]').fill("2020-08-20")
    shot(page, f"review-queue-{label}-returning")
    r.locator("button.return").click()
    flash = page.locator(".flash li.ok")
    expect(flash).to_contain_text(f"已退回{dept}第{ind}项")
    in_view(page, flash, size["height"])
    expect(row(page, ind, dept)).to_have_count(0)
    expect(page.locator("article.queue-row")).to_have_count(1)
    a = web_rt.store.assignments.get(ind, dept)[0]
    assert (a.status, a.reason, a.rework) == (
        Status.RETURNED,
        "缺少2019年台账，请补充",
        "2020-08-20",
    )
    screen(page, f"review-queue-{label}-after-return")


@pytest.mark.parametrize(("label", "size"), SIZES)
def test_comments_both_ways_in_the_queue(page, live_url, web_rt, shot, label, size):
    from bot.messages import Incoming
    from bot.records import Binding

    ind, dept = waiting(web_rt)[0]
    page.set_viewport_size(size)
    login(page, live_url)
    page.goto(f"{live_url}/admin/review")
    r = row(page, ind, dept)
    r.locator("textarea[name=text]").fill("台账请按年份装订，\n并写明存放位置。")
    r.locator("button.comment-send").click()
    flash = page.locator(".flash li.ok")
    expect(flash).to_have_text(f"留言已发到{dept}的工作群（第{ind}项）。")
    in_view(page, flash, size["height"])
    pushed = [n.text for _, n, _ in read_outbox(web_rt.store) if n.department == dept]
    assert any("并写明存放位置" in t for t in pushed)
    # the department answers in chat; the office sees it in the same thread
    web_rt.store.bindings.set(
        "sandbox", "u-zhou", None, Binding("sandbox", "u-zhou", dept, "周八"), "test"
    )
    msg = Incoming("sandbox", "u-zhou", f"留言 {ind} 已装订，放在档案室", mentioned=True,
                   message_id="m-zhou")  # fmt: skip
    assert "已把留言转给依法治区办" in web_rt.dispatcher.handle(msg).text
    page.reload()
    comments = row(page, ind, dept).locator("ol.comments li")
    expect(comments).to_have_count(2)
    expect(comments.nth(0)).to_have_class("comment from-office")
    expect(comments.nth(1)).to_contain_text("周八")
    expect(comments.nth(1)).to_contain_text("已装订，放在档案室")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    row(page, ind, dept).scroll_into_view_if_needed()
    screen(page, f"review-comments-{label}")


def approvals(rt, ind: int, dept: str) -> int:
    """How many 已通过 notices `dept` was sent for item `ind`."""
    return sum(
        n.department == dept and f"第{ind}项已通过" in n.text for _, n, _ in read_outbox(rt.store)
    )


@pytest.mark.parametrize(("label", "size"), SIZES)
def test_approving_an_item_in_progress_asks_first(page, live_url, web_rt, shot, label, size):
    """From the department's page to the item's card: 通过 on a 进行中 item asks first and says
    why; nothing changes until it is confirmed (返回 leaves it as it was)."""
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    url = "https://www.example.gov.cn/gone.html"
    web_rt.store.links.record(url, {"ok": False, "status": 404, "error": "http_404"})
    set_status(web_rt, ind, dept, Status.IN_PROGRESS,
               materials=(Material("公示网页", url, "张三"),))  # fmt: skip
    before = web_rt.store.assignments.get(ind, dept)[0]
    page.set_viewport_size(size)
    login(page, live_url)
    page.goto(f"{live_url}/admin/departments/{quote(dept)}")
    group = page.locator('details.status-group[data-status="in_progress"]')
    group.locator(f'a[href*="/admin/indicators/{ind}#"]').click()
    card = page.locator(f'article.unit[data-department="{dept}"]')
    expect(card.locator(".status")).to_have_text("进行中")
    why = f"{dept}第{ind}项还没有标记完成（目前是进行中），且链接都打不开（1 个）。"
    for attempt in ("cancel", "confirm"):
        card.locator("button.approve").click()
        doubt = page.locator("#approve-doubt")
        expect(doubt).to_contain_text(why)
        expect(doubt).to_contain_text("确定要通过吗？")
        in_view(page, page.locator("#confirm-approve"), size["height"])
        in_view(page, page.locator("#cancel-approve"), size["height"])
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        # asked, not done: the item, its audit and the department's chat are as they were
        assert web_rt.store.assignments.get(ind, dept)[0] == before
        assert approvals(web_rt, ind, dept) == 0
        if attempt == "cancel":
            shot(page, f"approve-in-progress-{label}-asks")
            page.click("#cancel-approve")
            expect(card.locator(".status")).to_have_text("进行中")
            assert web_rt.store.assignments.get(ind, dept)[0] == before
    page.click("#confirm-approve")
    flash = page.locator(".flash li").first
    expect(flash).to_contain_text(f"已通过{dept}第{ind}项")
    in_view(page, flash, size["height"])
    expect(card.locator(".status")).to_have_text("已通过")
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.APPROVED
    assert approvals(web_rt, ind, dept) == 1
    screen(page, f"approve-in-progress-{label}-confirmed")


@pytest.mark.parametrize(("label", "size"), SIZES)
def test_a_row_no_longer_done_is_not_approved_from_the_queue(
    page, live_url, web_rt, shot, label, size
):
    """The department reopens an item (进行中) while the office has the queue open: 通过 on its
    row says why it was not approved and where to approve it after a second look; nothing
    changed, and the row has left the queue."""
    made = waiting(web_rt)
    ind, dept = made[0]
    page.set_viewport_size(size)
    login(page, live_url)
    page.goto(f"{live_url}/admin/review")
    expect(page.locator("article.queue-row")).to_have_count(len(made))
    before = set_status(web_rt, ind, dept, Status.IN_PROGRESS)
    row(page, ind, dept).locator("button.approve").click()
    flash = page.locator(".flash li.error")
    expect(flash).to_contain_text(
        f"{dept}第{ind}项还没有标记完成（目前是进行中），不在待审核之列，没有通过。"
    )
    expect(flash).to_contain_text(f"请打开第{ind}项的页面，在{dept}一栏点「通过」并确认")
    in_view(page, flash, size["height"])
    expect(row(page, ind, dept)).to_have_count(0)
    expect(page.locator("article.queue-row")).to_have_count(len(made) - 1)
    assert web_rt.store.assignments.get(ind, dept)[0] == before
    assert approvals(web_rt, ind, dept) == 0
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screen(page, f"review-queue-{label}-not-done-refused")

"""The admin pages and the sandbox in headless Chromium: what the office and a demo user do."""

from __future__ import annotations

import re
from io import BytesIO

from openpyxl import load_workbook
from playwright.sync_api import expect

from bot.messages import Incoming
from bot.progress import Role, Status
from tests.http.conftest import ADMIN_PASSWORD, work

PHONE = {"width": 390, "height": 844}


def lead_indicator(rt, department: str) -> int:
    return min(i for (i, d), r in rt.assignments.items() if d == department and r is Role.LEAD)


def login(page, base: str, password: str = ADMIN_PASSWORD) -> None:
    page.goto(f"{base}/admin")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    page.fill("#password", password)
    page.click("#login")


def test_login_wrong_password_and_logout(page, live_url, shot):
    login(page, live_url, "wrong-password")
    expect(page.locator(".flash")).to_contain_text("密码不正确")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    shot(page, "login-refused")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#login")
    expect(page).to_have_url(re.compile(r"/admin$"))
    expect(page.locator("h1")).to_contain_text("法治政府建设示范创建")
    expect(page.locator("#deadlines")).to_contain_text("还剩 5 天")
    shot(page, "overview")
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/admin/login$"))
    expect(page.locator(".flash")).to_contain_text("您已安全退出")
    page.goto(f"{live_url}/admin/matrix")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))


def test_overview_table_sorts_and_fits_a_phone(page, live_url, web_rt, shot):
    page.set_viewport_size(PHONE)
    login(page, live_url)
    header = page.locator("#progress-table th", has_text="部门")
    header.click()
    first = page.locator("#progress-table tbody tr").first.get_attribute("data-department")
    header.click()
    last_first = page.locator("#progress-table tbody tr").first.get_attribute("data-department")
    assert first != last_first
    expect(header).to_have_attribute("aria-sort", "descending")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways on a phone by {overflow}px"
    shot(page, "overview-phone")
    page.goto(f"{live_url}/admin/matrix")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, "matrix-phone")


def choose(page, selector: str, value: str) -> None:
    """Pick a filter; the form applies it at once, so wait for that page load to finish."""
    with page.expect_navigation():
        page.select_option(selector, value)


def test_filter_the_matrix(page, live_url, web_rt, shot):
    login(page, live_url)
    page.goto(f"{live_url}/admin/matrix")
    expect(page.locator("#matrix-summary")).to_contain_text("× 99 项指标")
    group = "附加项"
    ids = [i for i, ind in web_rt.catalog.indicators.items() if ind.level1 == group]
    choose(page, "#f-level1", group)
    expect(page).to_have_url(re.compile(r"level1="))
    expect(page.locator("#matrix thead th[scope=col]")).to_have_count(len(ids))
    shot(page, "matrix-filtered")

    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    web_rt.dispatcher.handle(Incoming("sandbox", "zhangsan", f"纸质 {ind} 台账", mentioned=True))
    page.goto(f"{live_url}/admin/matrix")
    choose(page, "#f-status", "in_progress")
    expect(page.locator("#matrix-summary")).to_contain_text("1 个部门")
    expect(page.locator("#matrix tbody tr")).to_have_attribute("data-department", dept)
    expect(page.locator('#matrix td[data-status="in_progress"]:not(.dim)')).to_have_count(1)
    choose(page, "#f-status", "")
    choose(page, "#f-lead", dept)
    led = sum(1 for (_, d), r in web_rt.assignments.items() if d == dept and r is Role.LEAD)
    expect(page.locator("#matrix thead th[scope=col]")).to_have_count(led)
    shot(page, "matrix")


def test_return_and_approve_from_the_page(page, live_url, web_rt, shot):
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    web_rt.dispatcher.handle(
        Incoming("sandbox", "zhangsan", f"提交 {ind} https://www.example.gov.cn/p.html 方案",
                 mentioned=True)
    )  # fmt: skip
    login(page, live_url)
    page.goto(f"{live_url}/admin/indicators/{ind}")
    card = page.locator(f'article.unit[data-department="{dept}"]')
    expect(card.locator(".status")).to_have_text("进行中")
    expect(card.locator("a[href='https://www.example.gov.cn/p.html']")).to_have_text("方案")
    card.locator("input.reason").fill("请补充 2020 年执法台账")
    card.locator("button.return").click()
    expect(page.locator(".flash")).to_contain_text(f"已退回{dept}第{ind}项")
    card = page.locator(f'article.unit[data-department="{dept}"]')
    expect(card.locator(".status")).to_have_text("已退回")
    expect(card).to_contain_text("请补充 2020 年执法台账")
    expect(page.locator("#history")).to_contain_text("退回")
    shot(page, "indicator-returned")
    card.locator("button.approve").click()
    expect(page.locator("#approve-doubt")).to_contain_text("退回后还没有重新标记完成")
    shot(page, "approve-confirm")
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.RETURNED
    page.click("#confirm-approve")
    expect(page.locator(".flash")).to_contain_text(f"已通过{dept}第{ind}项")
    expect(page.locator(f'article.unit[data-department="{dept}"] .status')).to_have_text("已通过")
    assert web_rt.store.assignments.get(ind, dept)[0].status is Status.APPROVED
    shot(page, "indicator")

    # the department's notices, as they would be pushed to its chat
    page.goto(f"{live_url}/sandbox")
    outbox = page.locator(f'#outbox section[data-department="{dept}"]')
    expect(outbox).to_contain_text("请补充 2020 年执法台账")
    expect(outbox).to_contain_text(f"第{ind}项已通过依法治区办审核")
    shot(page, "sandbox-outbox")


def test_sandbox_round_trip_changes_the_overview(page, live_url, web_rt, shot):
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    login(page, live_url)
    row = page.locator(f'#progress-table tr[data-department="{dept}"] .done-count')
    before = row.inner_text()
    assert before.startswith("0/")

    page.goto(f"{live_url}/sandbox")
    page.select_option("#person", "__custom__")
    page.fill("#custom-id", "xiaoming")
    replies = page.locator('#chatlog .msg.bot[data-reply="1"]')
    for n, text in enumerate(
        ["绑定 司法局", f"提交 {ind} https://www.example.gov.cn/plan.html 实施方案", f"完成 {ind}"],
        start=1,
    ):
        page.fill("#text", text)
        page.press("#text", "Enter")
        expect(replies).to_have_count(n)
    expect(replies.nth(0)).to_contain_text("已绑定到司法局")
    expect(replies.nth(1)).to_contain_text(f"已收到第{ind}项的 1 个链接")
    expect(replies.nth(2)).to_contain_text(f"第{ind}项已标记完成")
    expect(page.locator(f'#outbox section[data-department="{dept}"]')).to_contain_text(
        "xiaoming 已绑定为司法局成员"
    )
    shot(page, "sandbox")

    page.goto(f"{live_url}/admin")
    after = page.locator(f'#progress-table tr[data-department="{dept}"] .done-count').inner_text()
    assert after == "1/" + before.split("/")[1]
    expect(page.locator("#total-complete")).to_contain_text("1 /")


def test_export_download_opens(page, live_url, web_rt, shot, tmp_path):
    login(page, live_url)
    page.goto(f"{live_url}/admin/exports")
    page.select_option("#build-department select", "司法局")
    page.click("#build-department button")
    expect(page.locator(".flash")).to_contain_text("正在生成司法局的资料目录")
    work(web_rt)  # the background job, for real
    page.reload()
    link = page.locator("#exports a", has_text=".xlsx").first
    expect(link).to_be_visible()
    shot(page, "exports")
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx") and "司法局" in download.suggested_filename
    path = tmp_path / "export.xlsx"
    download.save_as(path)
    wb = load_workbook(BytesIO(path.read_bytes()))
    text = " ".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value)
    assert "司法局" in text and "2020年金凤区法治政府建设示范创建" in text


def test_audit_and_deliveries_pages(page, live_url, web_rt, shot):
    ind = lead_indicator(web_rt, "司法局")
    web_rt.dispatcher.handle(Incoming("sandbox", "zhangsan", f"说明 {ind} 已整理", mentioned=True))
    login(page, live_url)
    page.goto(f"{live_url}/admin/audit")
    page.select_option("#audit-filters select[name=action]", "explain")
    page.click("#audit-filters button[type=submit]")
    expect(page.locator("#audit tbody tr")).to_have_count(1)
    expect(page.locator("#audit")).to_contain_text("报送说明")
    shot(page, "audit")
    page.goto(f"{live_url}/admin/deliveries")
    expect(page.locator("#queue-health")).to_contain_text("排队中")
    shot(page, "deliveries")


def test_submissions_page_shows_a_submission(page, live_url, web_rt, shot):
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    for n, text in enumerate([f"纸质 {ind} 2019年执法台账", "报送 确认"]):
        web_rt.dispatcher.handle(
            Incoming("sandbox", "zhangsan", text, mentioned=True, message_id=f"sub-{n}")
        )
    work(web_rt)  # the files of the submission, built for real
    login(page, live_url)
    expect(page.locator(f'#progress-table tr[data-department="{dept}"] .submission')).to_have_text(
        "第1版 · 2020-08-14 10:00"
    )
    page.click("nav a:text-is('报送')")
    expect(page).to_have_url(re.compile(r"/admin/submissions$"))
    expect(page.locator("#submission-summary")).to_contain_text("已报送 1 /")
    section = page.locator(f'section.dept-submissions[data-department="{dept}"]')
    row = section.locator('tr[data-version="1"]')
    expect(row).to_contain_text("第1版")
    expect(row).to_contain_text("2020-08-14 10:00")
    expect(row.locator("td.mail")).to_contain_text("未配置邮件")
    expect(row.locator("a", has_text="_资料目录_第1版.xlsx")).to_be_visible()
    expect(page.locator("#not-submitted")).to_contain_text("民政局")
    shot(page, "submissions")


def test_an_outline_reads_on_the_page_as_it_was_typed(page, live_url, web_rt, shot):
    dept = "司法局"
    ind = lead_indicator(web_rt, dept)
    outline = "一、总体情况\n（一）开展“双随机”抽查36次；\n（二）公示结果：全部公开。"
    web_rt.dispatcher.handle(
        Incoming("sandbox", "zhangsan", f"说明 {ind} {outline}", mentioned=True)
    )
    login(page, live_url)
    page.goto(f"{live_url}/admin/indicators/{ind}")
    card = page.locator(f'article.unit[data-department="{dept}"]')
    assert card.locator(".explanation").inner_text() == outline  # line breaks rendered
    shot(page, "indicator-outline")

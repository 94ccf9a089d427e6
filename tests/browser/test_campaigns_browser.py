"""Several campaigns in headless Chromium, on a phone (390×844) and a desktop: the deployment
admin's list of campaigns, the header's switcher, an archived campaign (issue 13)."""

from __future__ import annotations

import re
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from tests.http import campaigns
from tests.http.campaigns import OLD, OLD_TITLE, SECOND, SECOND_TITLE
from tests.http.conftest import ADMIN_PASSWORD

camp_settings, camp_rt, camp_app = campaigns.camp_settings, campaigns.camp_rt, campaigns.camp_app
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


@pytest.fixture
def camp_url(camp_app):
    server = make_server("127.0.0.1", 0, camp_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def login(page, url: str, path: str = "/admin", password: str = ADMIN_PASSWORD) -> None:
    page.goto(url + path)
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("#password", password)
    page.click("#login")


def no_sideways_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


@pytest.mark.parametrize("size", SIZES)
def test_campaigns_page_and_switcher(page, camp_url, shot, size):
    page.set_viewport_size(SIZES[size])
    login(page, camp_url)
    page.goto(f"{camp_url}/admin/campaigns")
    cards = page.locator("#campaigns li.campaign")
    expect(cards).to_have_count(3)
    expect(page.locator(f'#campaigns [data-campaign="{OLD}"]')).to_contain_text("已归档")
    expect(page.locator(f'#campaigns [data-campaign="{SECOND}"]')).to_contain_text(SECOND_TITLE)
    no_sideways_scroll(page)
    shot(page, f"campaigns-{size}")

    # the switcher, from the matrix: the same page in the other campaign
    page.goto(f"{camp_url}/admin/matrix")
    switcher = page.locator("#campaign-switcher")
    expect(switcher.locator("summary")).to_contain_text("活动：")
    switcher.locator("summary").click()
    expect(switcher.locator("ul")).to_be_visible()
    box = switcher.locator("ul").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= SIZES[size]["width"]
    no_sideways_scroll(page)
    shot(page, f"campaign-switcher-{size}")
    switcher.locator(f'a[data-campaign="{SECOND}"]').click()
    expect(page).to_have_url(re.compile(rf"/admin/{SECOND}/matrix$"))
    expect(page.locator("#campaign-switcher summary")).to_contain_text(SECOND_TITLE)
    expect(page.locator("table.matrix, .mlist").first).to_contain_text("西夏区教育局")
    # the menu keeps the campaign
    page.locator("header nav a", has_text="总览").click()
    expect(page).to_have_url(re.compile(rf"/admin/{SECOND}$"))
    no_sideways_scroll(page)
    shot(page, f"campaign-second-overview-{size}")

    # an archived campaign: its banner, and no form that writes
    page.locator("#campaign-switcher summary").click()
    page.locator(f'#campaign-switcher a[data-campaign="{OLD}"]').click()
    expect(page.locator("#archived-note")).to_contain_text("已归档")
    expect(page.locator("#campaign-switcher summary")).to_contain_text(OLD_TITLE)
    expect(page.locator("#remind-now")).to_have_count(0)
    page.goto(f"{camp_url}/admin/{OLD}/indicators/1")
    expect(page.locator("main form[method=post]").first).to_be_hidden()
    shot(page, f"campaign-archived-indicator-{size}")


def test_an_archived_campaign_can_still_be_logged_into(page, camp_url):
    login(page, camp_url, f"/admin/{OLD}/matrix")
    expect(page).to_have_url(re.compile(rf"/admin/{OLD}/matrix$"))
    expect(page.locator("#archived-note")).to_be_visible()


def test_a_campaign_admin_has_no_switcher(page, camp_url, shot):
    page.set_viewport_size(SIZES["phone"])
    login(page, camp_url, f"/admin/{SECOND}", campaigns.SECOND_PASSWORD)
    expect(page).to_have_url(re.compile(rf"/admin/{SECOND}$"))
    expect(page.locator("#campaign-switcher")).to_have_count(0)
    expect(page.locator("#campaign-name")).to_contain_text(SECOND_TITLE)
    page.goto(f"{camp_url}/admin/matrix")
    expect(page.locator("main")).to_contain_text("只能管理自己的督办活动")
    shot(page, "campaign-admin-refused-phone")

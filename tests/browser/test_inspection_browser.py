"""查验 in headless Chromium on a phone (390×844) and a desktop (1366×900): pick a department,
mark one item 已查验 with one tap, another 有问题 with a note and a photo from the file picker
(the phone's camera), see the progress and the findings report. Screenshots are kept."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from bot import inspection
from bot.progress import Material, Status
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_admin_browser import login
from tests.e2e.background import set_status, use_env
from tests.http.conftest import demo_env

SIZES = [("phone", {"width": 390, "height": 844}), ("desktop", {"width": 1366, "height": 900})]
DEPT = "司法局"
INSPECTOR_PASSWORD = "look-at-the-volumes"


@pytest.fixture
def web_settings(web_settings, tmp_path, monkeypatch):
    env = demo_env(
        web_settings.redis_url,
        DUBAN_FILE_DIR=str(tmp_path / "files"),
        DUBAN_INSPECTOR_PASSWORD=INSPECTOR_PASSWORD,
    )
    return use_env(monkeypatch, env)


def photo(path) -> None:
    """A phone-sized picture of a (drawn) binder spine."""
    im = Image.new("RGB", (1600, 1200), (235, 225, 200))
    d = ImageDraw.Draw(im)
    d.rectangle((500, 100, 1100, 1100), fill=(40, 70, 140))
    d.rectangle((560, 300, 1040, 500), fill=(250, 250, 250))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=85)
    path.write_bytes(out.getvalue())


def screen(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def no_side_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0


@pytest.mark.parametrize(("label", "size"), SIZES)
def test_mark_note_and_photo(page, live_url, web_rt, shot, tmp_path, label, size):
    ids = [
        i
        for i in sorted(i for (i, d) in web_rt.assignments if d == DEPT)
        if web_rt.catalog.indicators[i].kind != "deduction"
    ]
    set_status(
        web_rt, ids[0], DEPT, Status.DONE,
        materials=(
            Material("2020年行政执法台账", "", "张三", "", "档案室2号柜第3卷第12—40页"),
            Material("执法公示", "https://www.example.gov.cn/sfj/zfgs.html", "张三"),
        ),
    )  # fmt: skip
    set_status(
        web_rt, ids[1], DEPT, Status.DONE,
        materials=(Material("法律顾问聘用合同", "", "李四", "", "办公室文件柜第1卷"),),
    )  # fmt: skip
    page.set_viewport_size(size)
    login(page, live_url)
    page.goto(f"{live_url}/admin/inspect")
    no_side_scroll(page)
    screen(page, f"inspect-home-{label}")
    page.locator(f'#departments li[data-department="{DEPT}"] a').click()
    expect(page.locator("#progress-text")).to_have_text(f"查验 0/{len(ids)}")
    first = page.locator(f"#i-{ids[0]}")
    expect(first).to_contain_text("档案室2号柜第3卷第12—40页")
    # the two buttons of the first item are on the first screen, within reach
    box = first.locator("button.mark-ok").bounding_box()
    assert box and box["y"] + box["height"] <= size["height"], box
    assert box["height"] >= 44
    no_side_scroll(page)
    screen(page, f"inspect-department-{label}")

    # one tap: 已查验, and the page moves on to the next item, saying so there
    first.locator("button.mark-ok").click()
    expect(page.locator("#progress-text")).to_have_text(f"查验 1/{len(ids)}")
    expect(page.locator(f"#i-{ids[0]} .badge.state")).to_have_text("✓ 已查验")
    second = page.locator(f"#i-{ids[1]}")
    expect(second.locator(".flash li.ok")).to_have_text(f"{DEPT}第{ids[0]}项：已查验。")
    expect(page.locator(".flash")).to_have_count(1)
    box = second.locator(".flash").bounding_box()  # told where the inspector is looking
    assert box and 0 <= box["y"] and box["y"] + box["height"] <= size["height"], box
    box = second.locator("button.mark-problem").bounding_box()  # and the next tap is in reach
    assert box and box["y"] + box["height"] <= size["height"], box
    screen(page, f"inspect-marked-{label}")

    # 有问题 with a note and a photo
    second.locator("details.mark-more summary").click()
    second.locator('textarea[name="note"]').fill("合同缺签字页\n第1卷目录与实物不符")
    picture = tmp_path / "IMG_0001.jpg"
    photo(picture)
    second.locator('input[name="photo"]').set_input_files(str(picture))
    expect(second.locator(".picked")).to_have_text("已选 1 张：IMG_0001.jpg（点下方按钮保存）")
    second.locator("button.mark-problem").scroll_into_view_if_needed()
    screen(page, f"inspect-note-photo-{label}")
    second.locator("button.mark-problem").click()
    expect(page.locator("#progress-text")).to_have_text(f"查验 2/{len(ids)}")
    second = page.locator(f"#i-{ids[1]}")
    expect(second.locator(".badge.state")).to_have_text("⚠ 有问题")
    expect(second.locator(".flash li.ok")).to_have_text(
        f"{DEPT}第{ids[1]}项：有问题，已保存照片 1 张。"
    )
    assert second.locator(".note").evaluate("e => e.innerText") == (
        "备注：合同缺签字页\n第1卷目录与实物不符"
    )
    img = second.locator("ul.photos img")
    expect(img).to_have_count(1)
    assert img.evaluate("e => e.complete && e.naturalWidth") == 800  # the small copy
    no_side_scroll(page)
    screen(page, f"inspect-problem-{label}")
    m = inspection.Mark.from_dict(web_rt.store.inspections.marks([DEPT])[DEPT][ids[1]])
    assert (m.state, m.note, [p.file.name for p in m.photos]) == (
        "problem",
        "合同缺签字页\n第1卷目录与实物不符",
        ["IMG_0001.jpg"],
    )

    # the findings report
    page.locator("#report-link").click()
    expect(page.locator("#summary")).to_contain_text("已查验 2 项，其中有问题 1 项")
    expect(page.locator(f"#f-{ids[1]}")).to_contain_text("合同缺签字页")
    no_side_scroll(page)
    shot(page, f"inspect-report-{label}")
    with page.expect_download() as dl:
        page.locator("#report-docx").click()
    assert dl.value.suggested_filename.startswith(f"{DEPT}_查验报告_")

    page.goto(f"{live_url}/admin/inspect")
    expect(page.locator("#problems-by-indicator")).to_contain_text(f"第{ids[1]}项：{DEPT}")
    shot(page, f"inspect-home-after-{label}")


def test_an_inspector_login_sees_the_inspection_only(page, live_url, web_rt):
    page.set_viewport_size(SIZES[0][1])
    login(page, live_url, INSPECTOR_PASSWORD)
    expect(page).to_have_url(f"{live_url}/admin/inspect")
    nav = page.locator("header.top nav a")
    expect(nav).to_have_text(["查验"])
    expect(page.locator("#logout")).to_be_visible()
    screen(page, "inspect-inspector-phone")
    page.goto(f"{live_url}/admin/review")
    expect(page).to_have_url(f"{live_url}/admin/inspect")
    page.locator(f'#departments li[data-department="{DEPT}"] a').click()
    page.locator("article.inspect-item button.mark-ok").first.click()
    expect(page.locator("#progress-text")).to_contain_text("查验 1/")
    expect(page.locator("article.inspect-item p.by").first).to_have_text(
        re.compile(r"^查验人员 · ")
    )

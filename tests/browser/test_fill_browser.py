"""The fill-in page in Chromium, on a phone (390×844) and a desktop (1366×900), opened from the
link in a real 填报 reply: filter, add a link and a paper item, upload a PDF and a photo (shown
downscaled, the originals downloadable), write a multi-line explanation (stored byte for byte),
mark done, undo; a tampered link gets the refusal page."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from bot.config import Settings
from bot.messages import Incoming
from bot.progress import Role, Status

DEPT = "司法局"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}
EXPLANATION = "我局2019年以来：\n一、开展“双随机、一公开”抽查36次；\n\n二、（详见附件）——全部公开！"


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<<>>\n%%EOF\n"


def photo() -> bytes:
    """A phone photo's size (3000×2000): shown on the page no larger than 800 px."""
    out = io.BytesIO()
    Image.new("RGB", (3000, 2000), (40, 120, 200)).save(out, "JPEG", quality=60)
    return out.getvalue()


@pytest.fixture
def web_settings(web_settings, monkeypatch, tmp_path):
    """The web settings with the file store in this test's directory."""
    monkeypatch.setenv("DUBAN_FILE_DIR", str(tmp_path / "files"))
    return Settings.from_env()


def no_sideways_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def send(page, form: str, fields: dict[str, str], said: str) -> None:
    """Fill in one of the item's forms as a person types, send it, and see its answer."""
    for selector, value in fields.items():
        page.fill(selector, value)
    page.click(f"#form-{form} button[type=submit]")
    expect(page.locator("#flash")).to_contain_text(said)


@pytest.mark.parametrize("size", SIZES)
def test_fill_page_from_a_chat_reply(page, live_url, web_rt, shot, size):
    page.set_viewport_size(SIZES[size])
    reply = web_rt.dispatcher.handle(Incoming("sandbox", "zhangsan", "填报", mentioned=True)).text
    url = re.search(r"https?://\S+/m/\S+", reply).group(0)
    assert url.startswith(web_rt.settings.public_url)
    # the reply's link, served by this test's server
    url = live_url + url.removeprefix(web_rt.settings.public_url)
    lead = min(i for (i, d), r in web_rt.assignments.items() if d == DEPT and r is Role.LEAD)

    page.goto(url)
    expect(page.locator("#heading")).to_contain_text(f"{DEPT} · 共")
    expect(page.locator("#filters [aria-current=page]")).to_contain_text("未完成")
    no_sideways_scroll(page)
    shot(page, f"fill-{size}-open")

    page.click("#filters [data-filter=all]")
    expect(page.locator("#filters [aria-current=page]")).to_contain_text("全部")
    shot(page, f"fill-{size}-all")

    page.click(f'#items li[data-id="{lead}"] a')
    expect(page.locator("#heading")).to_contain_text(f"第{lead}项")
    expect(page.locator("#evidence")).not_to_be_empty()
    no_sideways_scroll(page)
    shot(page, f"fill-{size}-item")

    link = {"#url": "https://www.example.gov.cn/sfj/plan.html", "#link-name": "2020年普法工作方案"}
    send(page, "link", link, "已添加")
    expect(page.locator("#materials")).to_contain_text("2020年普法工作方案")
    shot(page, f"fill-{size}-link")
    paper = {"#paper-title": "2019年执法案卷评查记录", "#paper-place": "档案室3号柜"}
    send(page, "paper", paper, "已登记")
    expect(page.locator("#materials")).to_contain_text("存放：档案室3号柜")
    # a PDF as evidence, then a photo (on a phone the camera input offers the camera)
    page.set_input_files(
        "#upload-file",
        {"name": "2019年执法案卷评查报告.pdf", "mimeType": "application/pdf", "buffer": PDF},
    )
    page.click("#form-upload button[type=submit]")
    expect(page.locator("#flash")).to_contain_text("已上传")
    expect(page.locator("#materials")).to_contain_text("2019年执法案卷评查报告.pdf")
    expect(page.locator("#materials")).to_contain_text("PDF 文件")
    assert page.get_attribute("#upload-photo", "capture") == "environment"
    big = photo()
    page.set_input_files(
        "#upload-photo", {"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": big}
    )
    page.click("#form-photo button[type=submit]")
    expect(page.locator("#flash")).to_contain_text("已上传")
    thumb = page.locator("#materials img")
    expect(thumb).to_have_count(1)
    thumb.scroll_into_view_if_needed()
    natural = 0
    for _ in range(100):  # (wait_for_function evaluates a string: the page's CSP forbids it)
        natural = thumb.evaluate("img => img.complete ? img.naturalWidth : 0")
        if natural:
            break
        page.wait_for_timeout(50)
    assert natural == 800, natural  # downscaled from 3000 px
    no_sideways_scroll(page)
    shot(page, f"fill-{size}-uploaded")
    with page.expect_download() as got:
        page.click("#materials a.file-name >> text=IMG_0001.jpg")
    original = got.value
    assert original.suggested_filename == "IMG_0001.jpg"
    assert hashlib.sha256(open(original.path(), "rb").read()).hexdigest() == (
        hashlib.sha256(big).hexdigest()
    )
    kinds = [m.kind_label for m in web_rt.store.assignments.get(lead, DEPT)[0].materials]
    assert kinds == ["网上链接", "纸质", "PDF 文件", "JPG 图片"]

    send(page, "explain", {"#text": EXPLANATION}, "已保存")
    a = web_rt.store.assignments.get(lead, DEPT)[0]
    assert a.explanation.encode() == EXPLANATION.encode()
    assert page.input_value("#text") == EXPLANATION
    shot(page, f"fill-{size}-explained")

    page.click("#form-done button[type=submit]")
    expect(page.locator("#status")).to_have_text("已完成")
    assert web_rt.store.assignments.get(lead, DEPT)[0].status is Status.DONE
    shot(page, f"fill-{size}-done")

    page.click("#undo")
    expect(page.locator("#flash")).to_contain_text("已撤销「标记完成」")
    expect(page.locator("#status")).to_have_text("进行中")
    assert web_rt.store.assignments.get(lead, DEPT)[0].status is Status.IN_PROGRESS
    shot(page, f"fill-{size}-undone")

    # the list shows the item's materials; chat sees the same state
    page.click("#back")
    expect(page.locator(f'#items li[data-id="{lead}"]')).to_contain_text("材料 4 份")

    head, _, sig = url.rpartition(".")
    page.goto(f"{head}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}")
    expect(page.locator("#refused h1")).to_have_text("链接无效")
    expect(page.locator("body")).not_to_contain_text(DEPT)
    shot(page, f"fill-{size}-tampered")

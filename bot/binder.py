"""The September inspection's paper (issue 16 item 6): per department a binder
pack (cover, contents by indicator with each paper material's volume and page or place, the
links with QR codes for the inspectors), and the district checklist by indicator for the
inspection team.

Each is built once as a list of blocks and rendered twice: Word (python-docx, always) and PDF
(reportlab, when a CJK TrueType font is on the machine: PDF has no fallback fonts, and
without one every Chinese character would print as an empty box). Builders take plain values
and return bytes; the only thing read is the font file.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Iterable, Sequence
from copy import deepcopy
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import qrcode
from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.pagesizes import landscape as turned
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont, TTFontFile
from reportlab.platypus import (
    Image,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from bot.progress import Assignment, Status
from bot.reports import (
    CatalogRow,
    _clean,
    _east_asian_font,
    _sorted_rows,
    _styled_run,
    _to_local,
    has_content,
    is_web_url,
    material_kind,
    material_name,
    open_summary,
    role_text,
)

if TYPE_CHECKING:
    from bot.catalog import Campaign, Catalog

# CJK TrueType fonts Debian ships (fonts-wqy-microhei, fonts-wqy-zenhei, fonts-arphic-uming):
# reportlab embeds TrueType outlines only, so Noto CJK (CFF outlines) cannot serve.
PDF_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
NO_PDF = (
    "未生成 PDF：服务器上没有可嵌入的中文字体（请安装 fonts-wqy-microhei，"
    "或用 DUBAN_PDF_FONT 指定一个 TrueType 中文字体文件）。Word 版内容相同，可直接打印。"
)
UNPLACED = "未写明存放位置"


@dataclass(frozen=True)
class QR:
    """A cell that prints the URL's QR code above the URL itself."""

    url: str


@dataclass(frozen=True)
class Pictures:
    """A cell of pictures (JPEG or PNG bytes), one under the other: the inspectors' photos in
    the findings report (bot/inspection.py)."""

    images: tuple[bytes, ...]


Cell = str | QR | Pictures


@dataclass(frozen=True)
class Block:
    kind: str  # title | subtitle | heading | para | small | table | pagebreak
    text: str = ""
    header: tuple[str, ...] = ()
    widths: tuple[float, ...] = ()  # millimetres
    rows: tuple[tuple[Cell, ...], ...] = ()


def qr_png(url: str, box: int = 4) -> bytes:
    """The URL's QR code as PNG (medium error correction: a printed page may get a stain)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box, border=2)
    code.add_data(url)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out, format="PNG")
    return out.getvalue()


def pdf_font(configured: str = "") -> str:
    """The CJK font file for PDFs: the configured one, else the first of PDF_FONTS present;
    "" when there is none (no PDF then)."""
    for path in (configured, *PDF_FONTS):
        if path and os.path.isfile(path):
            return path
    return ""


# --- what the papers say ----------------------------------------------------------------------


def _where(r: CatalogRow, m) -> str:
    """Where the inspector finds a material: a paper item's volume and page or place; a link
    is looked at through its QR code."""
    if m.is_link and not r.hides(m):
        if is_web_url(m.url):
            return "网上查阅（扫描二维码）"
        return "网址格式有误，无法生成二维码，请核对"
    if m.is_file and not r.hides(m):
        return f"电子文件，系统存档：{m.location}"
    return m.location or UNPLACED


def _material_cells(r: CatalogRow, k: int, m) -> tuple[Cell, ...]:
    link = m.is_link and not r.hides(m)
    code: Cell = QR(m.url.strip()) if link and is_web_url(m.url) else (m.url if link else "")
    return (str(k), material_name(r, m), material_kind(r, m), _where(r, m), code)


def binder_blocks(
    campaign: Campaign,
    department: str,
    rows: Sequence[CatalogRow],
    generated_at,
    tz: str,
    inspect_url: str = "",
) -> list[Block]:
    """A department's binder pack: cover, contents by indicator (each material with its
    volume and page or place, links with QR codes), and what is still open. `inspect_url`:
    the department's inspection page, printed on the cover as a QR code for the inspectors."""
    day = _to_local(generated_at, tz).date()
    worked = [r for r in _sorted_rows(rows) if has_content(r) and r.indicator.kind != "deduction"]
    paper = [m for r in worked for m in r.assignment.materials if m.is_paper or r.hides(m)]
    links = [m for r in worked for m in r.assignment.materials if m.is_link and not r.hides(m)]
    files = [m for r in worked for m in r.assignment.materials if m.is_file and not r.hides(m)]
    unplaced = sum(1 for m in paper if not m.location)
    blocks = [
        Block("title", campaign.name),
        Block("title", "实地查验资料汇编"),
        Block("subtitle", f"报送单位：{department}"),
        Block("subtitle", f"依据：{campaign.document}"),
        Block("subtitle", f"{day.year}年{day.month}月{day.day}日"),
        Block(
            "para",
            f"本汇编列出本单位{len(worked)}项指标的资料：纸质材料{len(paper)}件"
            + (f"（其中{unplaced}件未写明存放位置）" if unplaced else "")
            + f"，网上链接{len(links)}条（扫描二维码即可打开）"
            + (f"，电子文件{len(files)}个（系统存档）" if files else "")
            + "。",
        ),
        *_inspect_entry(inspect_url),
        Block("pagebreak"),
        Block("heading", "目录（按指标）"),
    ]
    if not worked:
        blocks.append(Block("para", "本单位尚未登记任何材料。"))
    for r in worked:
        ind, a = r.indicator, r.assignment
        blocks.append(Block("heading", f"第{ind.id}项（{role_text(r)}）{ind.level2}"))
        blocks.append(Block("small", f"指标要求：{ind.level3}"))
        if a.status is Status.NOT_APPLICABLE:
            blocks.append(
                Block("para", f"本单位不涉及：{a.reason}" if a.reason else "本单位不涉及。")
            )
        if not a.materials:
            if a.status is not Status.NOT_APPLICABLE:
                blocks.append(Block("para", "无单独材料，见报送材料说明。"))
            continue
        blocks.append(
            Block(
                "table",
                header=("序号", "材料名称", "类型", "卷册页码或存放位置", "网址二维码"),
                widths=(10, 62, 22, 44, 42),
                rows=tuple(_material_cells(r, k, m) for k, m in enumerate(a.materials, 1)),
            )
        )
    blocks.append(Block("heading", "未完成事项"))
    blocks.append(Block("para", open_summary(rows)))
    return blocks


def _inspect_entry(url: str) -> list[Block]:
    if not url:
        return []
    return [
        Block(
            "table",
            header=("实地查验入口", "扫码打开"),
            widths=(124, 50),
            rows=(
                (
                    "查验人员扫描右侧二维码（需登录管理后台），即可逐项标记本单位各项材料「已查验」或「有问题」，并可拍照、写备注。",
                    QR(url),
                ),
            ),  # fmt: skip
        )
    ]


def _unit_cells(ind_id: int, dept: str, a: Assignment, catalog: Catalog) -> tuple[Cell, ...]:
    ind = catalog.indicators[ind_id]
    secret = [m for m in a.materials if m.is_secret_in(ind)]
    paper = [m for m in a.materials if m.is_paper and m not in secret]
    links = [m for m in a.materials if m.is_link and m not in secret]
    files = [m for m in a.materials if m.is_file and m not in secret]
    places = list(dict.fromkeys(m.location or UNPLACED for m in (*paper, *secret)))
    what = []
    if paper or secret:
        what.append(f"纸质{len(paper) + len(secret)}件" + ("（含涉密）" if secret else ""))
    if links:
        what.append(f"链接{len(links)}条")
    if files:
        what.append(f"电子文件{len(files)}个")
    if a.status is Status.NOT_APPLICABLE:
        what = ["不涉及" + (f"：{a.reason}" if a.reason else "")]
    row = CatalogRow(ind, a)
    return (
        dept,
        role_text(row),
        "、".join(what) or "无材料",
        "；".join(places),
        "□已查验 □有问题",
        "",
    )


def checklist_blocks(
    campaign: Campaign,
    catalog: Catalog,
    departments: Sequence[str],
    assignments: dict[tuple[int, str], Assignment],
    generated_at,
    tz: str,
) -> list[Block]:
    """The inspection team's checklist: per indicator, what it asks for and each responsible
    unit's materials and where they are kept, with boxes to tick and room for a note."""
    day = _to_local(generated_at, tz).date()
    order = {d: i for i, d in enumerate(departments)}
    blocks = [
        Block("title", campaign.name),
        Block("title", "实地查验清单"),
        Block(
            "subtitle",
            f"依据：{campaign.document}　　生成日期：{day.year}年{day.month}月{day.day}日",
        ),
        Block("small", "涉密材料只写件数和存放位置，现场查阅。"),
    ]
    for ind_id in sorted(catalog.indicators):
        ind = catalog.indicators[ind_id]
        if ind.kind == "deduction":
            continue
        units = sorted(
            (d for (i, d) in assignments if i == ind_id and d in order), key=order.__getitem__
        )
        if not units:
            continue
        blocks.append(Block("heading", f"第{ind.id}项　{ind.level2}"))
        blocks.append(Block("small", f"指标要求：{ind.level3}"))
        if ind.evidence:
            blocks.append(Block("small", f"考评要点：{ind.evidence}"))
        blocks.append(
            Block(
                "table",
                header=("单位", "牵头/配合", "材料", "存放位置", "查验结果", "备注"),
                widths=(34, 16, 30, 40, 30, 30),
                rows=tuple(
                    _unit_cells(ind_id, d, assignments[(ind_id, d)], catalog) for d in units
                ),
            )
        )
    return blocks


# --- Word -------------------------------------------------------------------------------------

_FONT = "仿宋_GB2312"
_HEADING_FONT = "黑体"
_SIZES = {"title": 22, "subtitle": 16, "heading": 14, "para": 12, "small": 10.5}


def to_docx(blocks: Iterable[Block], landscape: bool = False) -> bytes:
    doc = Document()
    section = doc.sections[0]
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = Mm(297), Mm(210)
    else:
        section.page_width, section.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(18))
    _east_asian_font(doc.styles["Normal"].element, _FONT)
    scale = (297 - 36) / (210 - 36) if landscape else 1.0
    for b in blocks:
        if b.kind == "pagebreak":
            doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        elif b.kind == "table":
            _docx_table(doc, b, scale)
        else:
            p = doc.add_paragraph()
            if b.kind in ("title", "subtitle"):
                p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            if b.kind == "heading":
                p.paragraph_format.keep_with_next = True
                p.paragraph_format.space_before = Pt(10)
            font = _HEADING_FONT if b.kind in ("title", "heading") else _FONT
            _styled_run(p, b.text, size=_SIZES[b.kind], font=font, bold=b.kind == "title")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _run_template(doc, size: float) -> object:
    """A run of body text at `size` as XML, to copy into table cells: styling runs one by one
    through python-docx costs about a millisecond each (a district checklist has 10,000)."""
    p = doc.add_paragraph()
    run = _styled_run(p, "x", size=size)
    template = deepcopy(run._element)
    p._p.getparent().remove(p._p)
    return template


def _cell_text(paragraph, text: str, template) -> None:
    run = deepcopy(template)
    t = run.find(qn("w:t"))
    t.text = _clean(text)
    t.set(qn("xml:space"), "preserve")
    paragraph._p.append(run)


def _docx_table(doc, b: Block, scale: float) -> None:
    """One pass over a table made at its full size: python-docx's add_row and row.cells walk
    the whole table each time, which made a district checklist of 1,500 rows take seconds."""
    table = doc.add_table(rows=1 + len(b.rows), cols=len(b.header))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    widths = [Mm(w * scale) for w in b.widths]
    body, small = _run_template(doc, 10.5), _run_template(doc, 7)
    for n, row in enumerate(table.rows):
        cells = row.cells
        for cell, width in zip(cells, widths, strict=True):
            cell.width = width
        if n == 0:
            for cell, name in zip(cells, b.header, strict=True):
                _styled_run(cell.paragraphs[0], name, size=10.5, font=_HEADING_FONT, bold=True)
            _repeat_header(row)
            continue
        for cell, value, width in zip(cells, b.rows[n - 1], widths, strict=True):
            p = cell.paragraphs[0]
            if isinstance(value, QR):
                p.add_run().add_picture(io.BytesIO(qr_png(value.url)), width=Mm(24))
                _cell_text(cell.add_paragraph(), value.url, small)
            elif isinstance(value, Pictures):
                for k, data in enumerate(value.images):
                    target = p if k == 0 else cell.add_paragraph()
                    target.add_run().add_picture(io.BytesIO(data), width=width - Mm(4))
            elif value:
                _cell_text(p, value, body)


def _repeat_header(row) -> None:
    """The header row again on every page the table runs over (w:tblHeader)."""
    mark = OxmlElement("w:tblHeader")
    mark.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(mark)


# --- PDF --------------------------------------------------------------------------------------


def to_pdf(blocks: Iterable[Block], font_path: str, landscape: bool = False) -> bytes:
    """The same blocks as a PDF with the CJK font embedded (subset)."""
    name = "DubanCJK"
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(name, font_path, subfontIndex=0))
    style = {
        k: ParagraphStyle(
            k,
            fontName=name,
            fontSize=size,
            leading=size * 1.45,
            alignment=1 if k in ("title", "subtitle") else 0,
            wordWrap="CJK",  # break anywhere between Chinese characters
            spaceBefore=8 if k == "heading" else 2,
            spaceAfter=4,
        )
        for k, size in _SIZES.items()
    }
    cell = ParagraphStyle("cell", fontName=name, fontSize=9, leading=12, wordWrap="CJK")
    url_style = ParagraphStyle("url", fontName=name, fontSize=6, leading=7, wordWrap="CJK")
    page = turned(A4) if landscape else A4
    scale = ((page[0] - 36 * mm) / mm) / 180
    story = []
    for b in blocks:
        if b.kind == "pagebreak":
            story.append(PageBreak())
        elif b.kind == "table":
            head = [Paragraph(escape(h), cell) for h in b.header]
            body = []
            for values in b.rows:
                line = []
                for value in values:
                    if isinstance(value, QR):
                        img = Image(io.BytesIO(qr_png(value.url)), width=22 * mm, height=22 * mm)
                        line.append([img, Paragraph(escape(_clean(value.url)), url_style)])
                    elif isinstance(value, Pictures):
                        room = (b.widths[len(line)] * scale - 4) * mm  # this column's width
                        line.append([_picture(data, room) for data in value.images])
                    else:
                        line.append(Paragraph(escape(_clean(value)), cell))
                body.append(line)
            table = Table([head, *body], colWidths=[w * scale * mm for w in b.widths], repeatRows=1)
            table.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDEBF7")),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ]
                )
            )
            story += [table, Spacer(1, 4 * mm)]
        else:
            story.append(Paragraph(escape(_clean(b.text)), style[b.kind]))
            if b.kind == "title":
                story.append(Spacer(1, 6 * mm))
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=page, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
        bottomMargin=18 * mm, title="督办", author="督办",
    )  # fmt: skip
    doc.build(story)
    return out.getvalue()


def _picture(data: bytes, width: float) -> Image:
    """A picture `width` wide, its height by its own proportions."""
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(data)) as im:
        w, h = im.size
    return Image(io.BytesIO(data), width=width, height=width * h / max(w, 1))


def missing_glyphs(text: str, font_path: str) -> set[str]:
    """Characters of `text` the font has no glyph for (they would print as empty boxes)."""
    face = TTFontFile(font_path, subfontIndex=0)
    have = set(face.charToGlyph)
    return {ch for ch in text if not ch.isspace() and ord(ch) not in have}


def binder_files(
    campaign: Campaign,
    department: str,
    rows: Sequence[CatalogRow],
    generated_at: dt.datetime,
    *,
    tz: str,
    font: str = "",
    inspect_url: str = "",
) -> list[tuple[str, bytes, str]]:
    """[(suffix-less kind, bytes, ext)]: the binder pack as docx, and as pdf when a font is
    there."""
    blocks = binder_blocks(campaign, department, rows, generated_at, tz, inspect_url)
    out = [("docx", to_docx(blocks), "docx")]
    if font:
        out.append(("pdf", to_pdf(blocks, font), "pdf"))
    return out


def checklist_files(
    campaign: Campaign,
    catalog: Catalog,
    departments: Sequence[str],
    assignments: dict[tuple[int, str], Assignment],
    generated_at: dt.datetime,
    *,
    tz: str,
    font: str = "",
) -> list[tuple[str, bytes, str]]:
    blocks = checklist_blocks(campaign, catalog, departments, assignments, generated_at, tz)
    out = [("docx", to_docx(blocks, landscape=True), "docx")]
    if font:
        out.append(("pdf", to_pdf(blocks, font, landscape=True), "pdf"))
    return out

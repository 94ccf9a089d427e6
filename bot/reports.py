"""Exports: a department's 资料目录 workbook, the office's district workbook and the 报送材料说明.

Builders take plain values (campaign, indicators, assignments) and return file bytes; no I/O.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot.chars import XML_ILLEGAL, xml_safe
from bot.progress import (
    SECRET_LABEL,
    Assignment,
    Material,
    Role,
    Status,
    compute_scores,
    overall,
    size_text,
)
from bot.texts import COMPLETION_RULE

if TYPE_CHECKING:
    from bot.catalog import Campaign, Catalog, Indicator

DEFAULT_TZ = "Asia/Shanghai"

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class CatalogRow:
    """One assignment of a department together with its indicator.

    Workbooks expand it into one row per material (one row when it has none); the document
    turns it into one section. Builders sort rows by indicator id.
    """

    indicator: Indicator
    assignment: Assignment
    by: str = ""  # the name of whoever made the assignment's last change ("" = not known)
    starred: bool = False  # ★: the earlier online declaration showed it needs rectification

    @property
    def is_secret(self) -> bool:
        return self.indicator.is_secret

    def hides(self, m: Material) -> bool:
        """A 涉密 material: its name and address never leave the system."""
        return m.is_secret_in(self.indicator)


@dataclass(frozen=True)
class Sender:
    """Who sent a 报送 and when: a submission's files carry the authenticity statement (item 99
    of the table: fabricated material deducts points) with their name."""

    name: str
    at: dt.datetime


AUTHENTICITY = (
    "本单位承诺：所报送的资料目录、网址链接及报送材料说明真实、准确，"
    "不存在故意编造、虚构有关数据、资料、文件或者隐瞒事实真相的情形。"
)
SECRET_TEXT = "涉密，现场查阅"
RECTIFY_NOTE = "★需进一步加强整改"


# --- shared helpers ---------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")
_MAX_CELL = 32767  # Excel's limit for one cell
_MAX_LINK = 2000  # Excel refuses longer hyperlink targets

STATUS_ORDER = (
    Status.TODO,
    Status.IN_PROGRESS,
    Status.DONE,
    Status.NOT_APPLICABLE,
    Status.RETURNED,
    Status.APPROVED,
)


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL that is safe to make clickable."""
    url = url.strip()
    if not url or len(url) > _MAX_LINK or any(ch.isspace() for ch in url):
        return False
    if XML_ILLEGAL.search(url):  # a link target is written to the file as it is
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _to_local(at: dt.datetime, tz: str) -> dt.datetime:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(ZoneInfo(tz))


def local_time_text(iso: str, tz: str = DEFAULT_TZ) -> str:
    """An ISO-8601 instant as local "YYYY-MM-DD HH:MM" (naive means UTC); unparseable text as is."""
    if not iso:
        return ""
    try:
        at = dt.datetime.fromisoformat(iso.strip())
    except ValueError:
        return iso
    return _to_local(at, tz).strftime("%Y-%m-%d %H:%M")


def _clean(text: object) -> str:
    """Text that both file formats can store. Every string written to a file passes here, so one
    department's odd stored data cannot break a file that holds everyone's (the district
    workbook): openpyxl's own ILLEGAL_CHARACTERS_RE knows only the C0 controls, and lxml also
    refuses U+FFFE, U+FFFF and lone surrogates when the file is saved."""
    return xml_safe(str(text))


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def completion(assignments: Iterable[Assignment], starred: frozenset[int]) -> float:
    """完成率 as everywhere else: completed weight over assigned weight (bot.progress)."""
    statuses = {(a.indicator_id, a.department): (a.role, a.status) for a in assignments}
    return overall(compute_scores(statuses, starred, {})).ratio


def status_text(a: Assignment) -> str:
    """The status label, with the reason for 已退回 and 不涉及."""
    if a.reason and a.status in (Status.RETURNED, Status.NOT_APPLICABLE):
        return f"{a.status.label}（{a.reason}）"
    return a.status.label


# What a submission says of an assignment: the department's own state, never the office's
# review (已通过 / 已退回 are internal to the campaign).
_SUBMITTED = {
    Status.TODO: "未开始",
    Status.IN_PROGRESS: "进行中",
    Status.RETURNED: "进行中",
    Status.DONE: "已完成",
    Status.APPROVED: "已完成",
}


def submitted_status_text(a: Assignment) -> str:
    if a.status is Status.NOT_APPLICABLE:
        return f"不涉及（{a.reason}）" if a.reason else "不涉及"
    return _SUBMITTED[a.status]


def explanation_text(r: CatalogRow) -> str:
    """The 报送说明 as it may leave the system: a 涉密 indicator's is never written out."""
    a = r.assignment
    return SECRET_TEXT if (r.is_secret and a.explanation) else a.explanation


def role_text(r: CatalogRow) -> str:
    kind = {"bonus": "加分项", "deduction": "减分项"}.get(r.indicator.kind)
    return kind or r.assignment.role.label


def remark(r: CatalogRow) -> str:
    """The 备注: ★ with its rectification note, 涉密, bonus and deduction items."""
    parts = []
    if r.starred:
        fix = r.assignment.rectification
        parts.append(f"{RECTIFY_NOTE}；整改说明：{fix or '尚未填写'}")
    if r.is_secret:
        parts.append("考评要点注明涉密：纸质材料现场查阅")
    if r.indicator.kind == "bonus":
        parts.append("加分项（自愿申报）")
    return "；".join(parts)


def paper_statement(rows: Iterable[CatalogRow]) -> str:
    """What is true of the paper materials: how many, and where they are kept."""
    paper = [m for r in rows for m in r.assignment.materials if m.is_paper]
    if not paper:
        return "本次未登记纸质材料。"
    places = Counter(m.location for m in paper if m.location)
    where = "、".join(f"{p}（{n}件）" for p, n in places.items())
    unplaced = sum(1 for m in paper if not m.location)
    text = f"纸质材料{len(paper)}件不随本次报送发送，由本单位整理成册备现场查验"
    if where:
        text += f"，存放于：{where}"
    if unplaced:
        text += f"；其中{unplaced}件未写明存放位置"
    return text + "。"


def _sorted_rows(rows: Iterable[CatalogRow]) -> list[CatalogRow]:
    return sorted(rows, key=lambda r: r.indicator.id)


# --- xlsx -------------------------------------------------------------------------------------

# The 资料目录 as the office reads and prints it: the notice's table (序号, 指标 in three levels)
# with the materials beside each indicator. An indicator's cells are merged over its material
# rows, so its text is written once. Who changed what and when is the office's business, not
# the catalogue's: it goes on the second sheet (INTERNAL_COLUMNS).
COLUMNS = (
    ("序号", 6),
    ("一级指标", 12),
    ("二级指标", 16),
    ("三级指标", 40),
    ("材料名称", 30),
    ("类型", 9),
    ("网址或存放位置", 40),
    ("备注", 22),
)
# The two header rows: a group title over its columns, or one title over both rows.
HEADER_GROUPS = (("序号", 1, 1), ("指标", 2, 4), ("报送材料", 5, 7), ("备注", 8, 8))
MERGED_COLUMNS = (1, 2, 3, 4, 8)  # an indicator's own cells, merged over its materials
_URL_COLUMN = 7
_HEADER_ROW = 3  # and 4: the two header rows
_FIRST_ROW = 5

INTERNAL_COLUMNS = (
    ("序号", 6),
    ("二级指标", 18),
    ("牵头/配合", 9),
    ("材料名称", 30),
    ("类型", 9),
    ("网址或存放位置", 36),
    ("报送说明", 40),
    ("状态", 14),
    ("提交人", 10),
    ("时间", 17),
)
_INTERNAL_STATUS_COLUMN = 8

_THIN = Side(style="thin", color="999999")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="top")
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_LINK_FONT = Font(color="0563C1", underline="single")
_STATUS_FILL = {
    Status.TODO: None,
    Status.IN_PROGRESS: PatternFill("solid", fgColor="FFF2CC"),
    Status.DONE: PatternFill("solid", fgColor="E2EFDA"),
    Status.NOT_APPLICABLE: PatternFill("solid", fgColor="EDEDED"),
    Status.RETURNED: PatternFill("solid", fgColor="F8CBAD"),
    Status.APPROVED: PatternFill("solid", fgColor="C6EFCE"),
}


def _put(ws: Worksheet, row: int, col: int, value: object):
    """Write a cell; text that a spreadsheet would read as a formula stays plain text."""
    cell = ws.cell(row=row, column=col)
    if value is None:
        return cell
    if isinstance(value, str):
        value = _clean(value)[:_MAX_CELL]
        cell.value = value
        if value.startswith(_FORMULA_START):
            # openpyxl stores "=..." as a formula; force a string, and quotePrefix keeps it one
            # when someone edits the cell in Excel or WPS.
            cell.data_type = "s"
            cell.quotePrefix = True
    else:
        cell.value = value
    return cell


def _title_rows(ws: Worksheet, title: str, subtitle: str, width: int) -> None:
    _put(ws, 1, 1, title).font = Font(bold=True, size=14)
    _put(ws, 2, 1, subtitle)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)
    ws.cell(row=1, column=1).alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 28


def actor_label(actor: str) -> str:
    """An audit actor ("dingtalk:staff001", "web:admin", "api:token", "system:linkcheck") for a reader who
    has no name for it."""
    if actor == "web:inspector":  # a login with DUBAN_INSPECTOR_PASSWORD
        return "查验人员"
    kind, _, who = actor.partition(":")
    return {"system": "系统", "web": "管理后台", "api": "接口"}.get(kind, who or actor)


def material_kind(r: CatalogRow, m: Material) -> str:
    return "纸质（涉密）" if r.hides(m) else m.kind_label


def material_name(r: CatalogRow, m: Material) -> str:
    """A material's name as it may leave the system (Material.name; a 涉密 one as SECRET_LABEL)."""
    return SECRET_LABEL if r.hides(m) else m.name


def material_place(r: CatalogRow, m: Material) -> str:
    """网址或存放位置: a link's address, a paper item's place (a 涉密 one: its place only)."""
    if m.is_link and not r.hides(m):
        return m.url
    if m.is_file and not r.hides(m):
        return file_place(m)
    return m.location


def file_place(m: Material) -> str:
    """Where a stored file is kept, as the exports say it: the file store's location."""
    return f"系统存档：{m.location}"


def clickable(r: CatalogRow, m: Material) -> bool:
    return m.is_link and not r.hides(m) and is_web_url(m.url)


def catalogue_remark(r: CatalogRow) -> str:
    """The 备注 of the catalogue: the department's part in the item, and remark()."""
    return "；".join(x for x in (role_text(r), remark(r)) if x)


def open_items(rows: Iterable[CatalogRow]) -> list[int]:
    """The chores (bonus and deduction items apart) that are not complete, in number order."""
    return [
        r.indicator.id
        for r in _sorted_rows(rows)
        if r.indicator.is_regular and not r.assignment.is_complete
    ]


def untouched(rows: Iterable[CatalogRow]) -> list[int]:
    """The chores the department has said nothing about (no material, no explanation)."""
    return [
        r.indicator.id for r in _sorted_rows(rows) if r.indicator.is_regular and not has_content(r)
    ]


def _numbers(ids: Iterable[int]) -> str:
    return "第" + "、".join(str(i) for i in ids) + "项"


def _catalogue_entries(r: CatalogRow) -> list[tuple[Material | None, list]]:
    """The material rows of one worked-on assignment in the catalogue; one without material
    says what the department said instead."""
    a = r.assignment
    if not a.materials:
        if a.status is Status.NOT_APPLICABLE:
            said = f"本单位不涉及（{a.reason}）" if a.reason else "本单位不涉及"
        else:
            said = "无单独材料，见报送材料说明"
        return [(None, [said, "", ""])]
    return [
        (m, [material_name(r, m), material_kind(r, m), material_place(r, m)]) for m in a.materials
    ]


def _text_units(text: str) -> int:
    """Column-width units a line takes: a CJK character is about two digits wide."""
    return sum(1 if ord(ch) < 0x2E80 else 2 for ch in text)


def _lines_needed(text: str, width: float) -> int:
    per_line = max(1, int(width) - 1)
    return sum(max(1, -(-_text_units(line) // per_line)) for line in str(text).split("\n"))


_LINE_HEIGHT = 15.0  # points per wrapped line at the default 11 pt


def _header(ws: Worksheet, row: int, col: int, name: str) -> None:
    cell = _put(ws, row, col, name)
    cell.font = Font(bold=True)
    cell.fill = _HEADER_FILL
    cell.alignment = _CENTER
    cell.border = _BORDER


def _print_setup(ws: Worksheet, last_row: int, width: int, title_rows: str) -> None:
    """A4 landscape, the header rows on every page, all columns on one page width."""
    ws.print_title_rows = title_rows
    ws.print_area = f"A1:{get_column_letter(width)}{last_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6


def _write_catalog_sheet(
    ws: Worksheet,
    campaign: Campaign,
    department: str,
    rows: Sequence[CatalogRow],
    generated_at: dt.datetime,
    tz: str,
) -> None:
    """The catalogue as mailed: the items the department has worked on (has_content), one row
    per material, the indicator's cells merged over its materials; under the table, what is
    still open."""
    stamp = _to_local(generated_at, tz).strftime("%Y-%m-%d %H:%M")
    width = len(COLUMNS)
    _title_rows(
        ws,
        f"{campaign.name}资料目录",
        f"文号：{campaign.document}　　报送单位：{department}　　生成时间：{stamp}",
        width,
    )
    top, sub = _HEADER_ROW, _HEADER_ROW + 1
    for name, first, last in HEADER_GROUPS:
        _header(ws, top, first, name)
        if first == last:
            ws.merge_cells(start_row=top, start_column=first, end_row=sub, end_column=last)
        else:
            ws.merge_cells(start_row=top, start_column=first, end_row=top, end_column=last)
            for col in range(first, last + 1):
                _header(ws, sub, col, COLUMNS[col - 1][0])
    for col in range(1, width + 1):  # borders of the merged header cells' hidden parts
        for row in (top, sub):
            ws.cell(row=row, column=col).border = _BORDER
    for col, (_, w) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(col)].width = w

    row = sub
    worked = [r for r in _sorted_rows(rows) if has_content(r)]
    for r in worked:
        ind = r.indicator
        own = [ind.id, ind.level1, ind.level2, ind.level3]
        entries = _catalogue_entries(r)
        first = row + 1
        for k, (m, cells) in enumerate(entries):
            row += 1
            values = own + cells + [catalogue_remark(r)] if k == 0 else [None] * 4 + cells
            for col, value in enumerate(values, start=1):
                cell = _put(ws, row, col, value)
                cell.alignment = _CENTER if col in (1, 6) else _WRAP
                cell.border = _BORDER
            ws.cell(row=row, column=width).border = _BORDER
            if m is not None and clickable(r, m):
                link = ws.cell(row=row, column=_URL_COLUMN)
                link.hyperlink = m.url.strip()
                link.font = _LINK_FONT
        if row > first:
            for col in MERGED_COLUMNS:
                ws.merge_cells(start_row=first, start_column=col, end_row=row, end_column=col)
        _fit_block(ws, first, own + [None] * 3 + [catalogue_remark(r)], entries)
    last = row
    if not worked:
        last += 1
        _put(ws, last, 1, "本单位尚未报送任何材料。")
        ws.merge_cells(start_row=last, start_column=1, end_row=last, end_column=width)
    missing = untouched(rows)
    if missing:
        last += 1
        note = _put(ws, last, 1, f"尚未报送材料的指标（{len(missing)}项）：{_numbers(missing)}。")
        note.alignment = _WRAP
        ws.merge_cells(start_row=last, start_column=1, end_row=last, end_column=width)
        total = sum(w for _, w in COLUMNS)
        ws.row_dimensions[last].height = _LINE_HEIGHT * _lines_needed(note.value, total)
    ws.freeze_panes = ws.cell(row=_FIRST_ROW, column=1)
    _print_setup(ws, max(last, sub), width, f"{top}:{sub}")


def _fit_block(ws: Worksheet, first: int, merged: list, entries) -> None:
    """Row heights for one indicator's block: spreadsheet programs do not grow a row to fit a
    merged cell's wrapped text, so the block's rows share the height its merged text needs,
    and each row is at least as tall as its own material cells need."""
    need = max(
        (_lines_needed(v, COLUMNS[c][1]) for c, v in enumerate(merged) if v not in (None, "")),
        default=1,
    )
    share = -(-need // len(entries))
    for k, (_, cells) in enumerate(entries):
        own = max(_lines_needed(v, COLUMNS[4 + c][1]) for c, v in enumerate(cells))
        ws.row_dimensions[first + k].height = _LINE_HEIGHT * max(own, share)


def _internal_rows(r: CatalogRow, tz: str, submitted: bool) -> list[tuple[Material | None, list]]:
    """The second sheet's rows of one assignment (every assignment, worked on or not): what the
    office tracks of each material. `submitted`: the department's own states only."""
    ind, a = r.indicator, r.assignment
    state = submitted_status_text(a) if submitted else status_text(a)
    out: list[tuple[Material | None, list]] = []
    for m in a.materials or (None,):
        if m is None:
            cells = ["", "", ""]
            who, when = r.by or actor_label(a.updated_by), a.updated_at
        else:
            cells = [material_name(r, m), material_kind(r, m), material_place(r, m)]
            who, when = m.added_by, m.added_at
        values = [ind.id, ind.level2, role_text(r), *cells, explanation_text(r), state]
        out.append((m, values + [who, local_time_text(when, tz)]))
    return out


def _write_internal_sheet(
    ws: Worksheet,
    campaign: Campaign,
    department: str,
    rows: Sequence[CatalogRow],
    tz: str,
    submitted: bool,
) -> None:
    """Every assignment, one row per material, each row self-contained (filter and sort work):
    the 报送说明, the state, who added it and when."""
    width = len(INTERNAL_COLUMNS)
    _title_rows(ws, f"{campaign.name}资料目录明细", f"报送单位：{department}", width)
    for col, (name, w) in enumerate(INTERNAL_COLUMNS, start=1):
        _header(ws, _HEADER_ROW, col, name)
        ws.column_dimensions[get_column_letter(col)].width = w
    row = _HEADER_ROW
    for r in _sorted_rows(rows):
        for m, values in _internal_rows(r, tz, submitted):
            row += 1
            for col, value in enumerate(values, start=1):
                cell = _put(ws, row, col, value)
                cell.alignment = _WRAP
                cell.border = _BORDER
            if m is not None and clickable(r, m):
                link = ws.cell(row=row, column=6)
                link.hyperlink = m.url.strip()
                link.font = _LINK_FONT
            fill = None if submitted else _STATUS_FILL[r.assignment.status]
            if fill is not None:
                ws.cell(row=row, column=_INTERNAL_STATUS_COLUMN).fill = fill
    ws.freeze_panes = ws.cell(row=_HEADER_ROW + 1, column=1)
    ws.auto_filter.ref = f"A{_HEADER_ROW}:{get_column_letter(width)}{max(row, _HEADER_ROW + 1)}"
    _print_setup(ws, max(row, _HEADER_ROW), width, f"{_HEADER_ROW}:{_HEADER_ROW}")


def _write_summary_sheet(
    ws: Worksheet,
    campaign: Campaign,
    department: str,
    rows: Sequence[CatalogRow],
    generated_at: dt.datetime,
    tz: str,
    starred: frozenset[int],
    sender: Sender | None = None,
) -> None:
    every = list(rows)
    rows = [r for r in every if r.indicator.is_regular]  # bonus and deduction items are apart
    assignments = [r.assignment for r in rows]
    counts = Counter(a.status for a in assignments)
    done = sum(1 for a in assignments if a.is_complete)
    total = len(assignments)
    materials = [m for r in every for m in r.assignment.materials]
    links = sum(1 for r in every for m in r.assignment.materials if m.is_link and not r.hides(m))
    stamp = _to_local(generated_at, tz).strftime("%Y-%m-%d %H:%M")
    _title_rows(ws, f"{campaign.name}资料目录汇总", f"文号：{campaign.document}", 2)
    if sender is None:
        states = [(s.label, counts.get(s, 0)) for s in STATUS_ORDER]
        who: list[tuple[str, object] | None] = []
    else:
        labels = Counter(submitted_status_text(a).split("（")[0] for a in assignments)
        states = [
            (label, labels.get(label, 0)) for label in ("未开始", "进行中", "已完成", "不涉及")
        ]
        at = _to_local(sender.at, tz).strftime("%Y-%m-%d %H:%M")
        who = [("报送人", sender.name), ("报送时间", at), ("真实性承诺", AUTHENTICITY)]
    lines: list[tuple[str, object] | None] = [
        ("报送单位", department),
        ("生成时间", stamp),
        *who,
        None,
        ("状态", "项数"),
        *states,
        ("合计", total),
        ("已完成/总数", f"{done}/{total}"),
        ("完成率", completion(assignments, starred)),
        ("牵头项数", sum(1 for a in assignments if a.role is Role.LEAD)),
        ("配合项数", sum(1 for a in assignments if a.role is Role.COOPERATE)),
        None,
        ("材料", "件数"),
        ("网上链接", links),
        ("纸质", len(materials) - links),
        ("纸质材料存放", paper_statement(every)),
        None,
        ("说明", f"{COMPLETION_RULE}。"),
    ]
    for i, line in enumerate(lines, start=4):
        if line is None:
            continue
        label, value = line
        _put(ws, i, 1, label).border = _BORDER
        cell = _put(ws, i, 2, value)
        cell.border = _BORDER
        if label == "完成率":
            cell.number_format = "0%"
        if label in ("状态", "材料"):
            for c in (1, 2):
                ws.cell(row=i, column=c).font = Font(bold=True)
                ws.cell(row=i, column=c).fill = _HEADER_FILL
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 48
    for row in ws.iter_rows(min_row=4, min_col=2, max_col=2):
        row[0].alignment = _WRAP


def _save(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def department_workbook(
    campaign: Campaign,
    department: str,
    rows: list[CatalogRow],
    generated_at: dt.datetime,
    *,
    tz: str = DEFAULT_TZ,
    starred: frozenset[int] = frozenset(),
    sender: Sender | None = None,
) -> bytes:
    """The department's 资料目录 (.xlsx), ready to mail: sheet 资料目录 (the items worked on,
    one row per material, the indicator's cells merged over its materials, printable on A4
    landscape), sheet 明细 (every assignment with its 报送说明, state, who and when) and sheet
    汇总.

    Column 序号 holds the indicator number (the number used in chat). A 涉密 material is
    SECRET_LABEL with its 存放位置; 备注 carries the department's part, ★ and the 整改说明. With
    `sender` (a 报送) the states are the department's own and the summary names who sent it,
    with the authenticity statement.
    """
    wb = Workbook()
    ws = wb.active
    ws.title = "资料目录"
    _write_catalog_sheet(ws, campaign, department, rows, generated_at, tz)
    _write_internal_sheet(
        wb.create_sheet("明细"), campaign, department, rows, tz, sender is not None
    )
    _write_summary_sheet(
        wb.create_sheet("汇总"), campaign, department, rows, generated_at, tz, starred, sender
    )
    return _save(wb)


def sheet_name(name: str, taken: Iterable[str] = ()) -> str:
    """A valid, unique Excel sheet name: at most 31 characters, none of []:*?/\\ and no
    leading or trailing apostrophe; a clash with `taken` (case-insensitive) gets "(2)", "(3)"."""
    base = _SHEET_NAME_BAD.sub("_", _clean(name)).strip().strip("'") or "部门"
    if base.lower() == "history":  # reserved by Excel
        base = f"{base}_"
    used = {t.lower() for t in taken}
    candidate, n = base[:31], 1
    while candidate.lower() in used:
        n += 1
        suffix = f"({n})"
        candidate = base[: 31 - len(suffix)] + suffix
    return candidate


def district_workbook(
    campaign: Campaign,
    catalog: Catalog,
    departments: list[str],
    assignments: dict[tuple[int, str], Assignment],
    generated_at: dt.datetime,
    *,
    tz: str = DEFAULT_TZ,
    names: dict[str, str] | None = None,
    starred: frozenset[int] = frozenset(),
) -> bytes:
    """The office's workbook: sheet 总览 (department × indicator status matrix with each
    department's done/total and 完成率) and then one 资料目录 sheet per department, in the given
    order. `names`: actor -> person, for 提交人 (CatalogRow.by); `starred`: the ★ indicators.
    A 涉密 material shows as in every export: that it exists and where it is kept."""
    names = names or {}
    wb = Workbook()
    ws = wb.active
    ws.title = "总览"
    ids = sorted(catalog.indicators)
    first_ind_col = 4
    stamp = _to_local(generated_at, tz).strftime("%Y-%m-%d %H:%M")
    _title_rows(
        ws,
        f"{campaign.name}完成情况总览",
        f"文号：{campaign.document}　　生成时间：{stamp}　　空白表示该单位不承担此项　　"
        f"{COMPLETION_RULE}",
        first_ind_col - 1 + len(ids),
    )
    header = _HEADER_ROW + 1
    for col, name in enumerate(("部门", "已完成/总数", "完成率"), start=1):
        cell = _put(ws, header, col, name)
        cell.font, cell.fill, cell.alignment, cell.border = (
            Font(bold=True),
            _HEADER_FILL,
            _CENTER,
            _BORDER,
        )
    for offset, ind_id in enumerate(ids):
        col = first_ind_col + offset
        ind = catalog.indicators[ind_id]
        cell = _put(ws, header, col, ind_id)
        cell.font, cell.fill, cell.alignment, cell.border = (
            Font(bold=True),
            _HEADER_FILL,
            _CENTER,
            _BORDER,
        )
        cell.comment = Comment(_clean(_shorten(ind.level3, 200)), "督办")
        ws.column_dimensions[get_column_letter(col)].width = 8
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 12
    ws.column_dimensions["C"].width = 8

    per_department: dict[str, list[CatalogRow]] = {d: [] for d in departments}
    for (ind_id, dept), a in assignments.items():
        ind = catalog.indicators.get(ind_id)
        if ind is not None and dept in per_department:
            by = names.get(a.updated_by, "")
            per_department[dept].append(CatalogRow(ind, a, by, ind_id in starred))

    for i, dept in enumerate(departments):
        row = header + 1 + i
        own = [r for r in per_department[dept] if r.indicator.is_regular]
        done = sum(1 for r in own if r.assignment.is_complete)
        _put(ws, row, 1, dept).border = _BORDER
        _put(ws, row, 2, f"{done}/{len(own)}").border = _BORDER
        ratio = _put(ws, row, 3, completion((r.assignment for r in own), starred))
        ratio.number_format = "0%"
        ratio.border = _BORDER
        for offset, ind_id in enumerate(ids):
            a = assignments.get((ind_id, dept))
            cell = ws.cell(row=row, column=first_ind_col + offset)
            cell.border = _BORDER
            cell.alignment = _CENTER
            if a is not None:
                _put(ws, row, first_ind_col + offset, a.status.label)
                fill = _STATUS_FILL[a.status]
                if fill is not None:
                    cell.fill = fill
    ws.freeze_panes = ws.cell(row=header + 1, column=first_ind_col)

    taken = ["总览"]
    for dept in departments:
        name = sheet_name(dept, taken)
        taken.append(name)
        _write_catalog_sheet(
            wb.create_sheet(name), campaign, dept, per_department[dept], generated_at, tz
        )
    return _save(wb)


# --- docx -------------------------------------------------------------------------------------

_BODY_FONT = "仿宋_GB2312"
_HEADING_FONT = "黑体"
_TITLE_FONT = "方正小标宋简体"


def _east_asian_font(element, name: str) -> None:
    """Word picks CJK glyphs from w:eastAsia, which python-docx's font.name does not set."""
    rpr = element.get_or_add_rPr()
    rpr.get_or_add_rFonts().set(qn("w:eastAsia"), name)


def _styled_run(paragraph, text: str, *, font: str = _BODY_FONT, size: float = 16, bold=False):
    run = paragraph.add_run(_clean(text))
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.color.rgb = RGBColor(0, 0, 0)
    _east_asian_font(run._element, font)
    return run


def _add_hyperlink(paragraph, url: str) -> None:
    """A clickable external link (python-docx has no public API for one)."""
    r_id = paragraph.part.relate_to(url, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), r_id)
    run = OxmlElement("w:r")
    rpr = OxmlElement("w:rPr")
    color = OxmlElement("w:color")
    color.set(qn("w:val"), "0563C1")
    underline = OxmlElement("w:u")
    underline.set(qn("w:val"), "single")
    rpr.append(color)
    rpr.append(underline)
    run.append(rpr)
    text = OxmlElement("w:t")
    text.text = _clean(url)
    text.set(qn("xml:space"), "preserve")
    run.append(text)
    link.append(run)
    paragraph._p.append(link)


def has_content(r: CatalogRow) -> bool:
    """The department has said something for this item (a material, an explanation, a
    rectification note, or that it is not concerned)."""
    a = r.assignment
    return bool(
        a.materials or a.explanation or a.rectification or a.status is Status.NOT_APPLICABLE
    )


def _paragraph(doc, text: str, *, indent: bool = False, left: bool = False, **style):
    p = doc.add_paragraph()
    if indent:
        p.paragraph_format.first_line_indent = Pt(32)
    if left:
        p.paragraph_format.left_indent = Pt(32)
    _styled_run(p, text, **style)
    return p


def _section(doc, r: CatalogRow, draft: bool) -> None:
    """One assignment: its number and requirement in full, what the department says of it,
    its materials (a 涉密 one as SECRET_LABEL with its place) and the ★ remark."""
    ind, a = r.indicator, r.assignment
    heading = doc.add_paragraph()
    heading.paragraph_format.space_before = Pt(12)
    heading.paragraph_format.keep_with_next = True
    _styled_run(heading, f"第{ind.id}项（{role_text(r)}）{ind.level2}", font=_HEADING_FONT)
    _paragraph(doc, f"指标要求：{ind.level3}")
    if draft:
        _paragraph(doc, f"完成情况：{status_text(a)}")
    elif a.status is Status.NOT_APPLICABLE:
        _paragraph(doc, f"本单位不涉及：{a.reason}" if a.reason else "本单位不涉及。")
    said = explanation_text(r)
    lines = said.splitlines() if said.strip() else []
    # One paragraph per line as written (an outline 一、（一）… keeps its shape); a line the
    # writer indented himself gets no second indent.
    for line in lines:
        p = doc.add_paragraph()
        if not line[:1].isspace():
            p.paragraph_format.first_line_indent = Pt(32)
        if line:
            _styled_run(p, line)
    if a.materials:
        _paragraph(doc, "报送材料：")
    for k, m in enumerate(a.materials, start=1):
        if r.hides(m):
            place = f"（存放：{m.location}）" if m.location else ""
            _paragraph(doc, f"（{k}）{SECRET_LABEL}{place}", left=True)
        elif m.is_link:
            p = _paragraph(doc, f"（{k}）{m.name}：", left=True)
            if is_web_url(m.url):
                _add_hyperlink(p, m.url.strip())
            else:
                _styled_run(p, m.url)
        elif m.is_file:
            size = size_text(m.file.size)
            _paragraph(
                doc, f"（{k}）{m.name}：{m.kind_label}（{size}），{file_place(m)}", left=True
            )
        else:
            place = f"，存放于{m.location}" if m.location else ""
            _paragraph(doc, f"（{k}）{m.title}：纸质材料{place}", left=True)
    if r.starred:
        fix = a.rectification or "尚未填写"
        _paragraph(doc, f"备注：{RECTIFY_NOTE}。整改说明：{fix}")


def open_summary(rows: Sequence[CatalogRow]) -> str:
    """The closing summary of what is still open: how many chores are not complete and which,
    and which of them have nothing submitted yet."""
    regular = [r for r in rows if r.indicator.is_regular]
    still = open_items(regular)
    if not still:
        return f"本单位承担的{len(regular)}项指标均已完成。"
    text = f"本单位承担的{len(regular)}项指标中，仍有{len(still)}项未完成：{_numbers(still)}"
    empty = untouched(regular)
    if empty:
        text += f"；其中{_numbers(empty)}尚未报送材料"
    return text + "。"


def _closing_summary(doc, regular: Sequence[CatalogRow]) -> None:
    _paragraph(doc, "未完成事项", font=_HEADING_FONT)
    _paragraph(doc, open_summary(regular), indent=True)


def explanation_document(
    campaign: Campaign,
    department: str,
    rows: list[CatalogRow],
    generated_at: dt.datetime,
    *,
    tz: str = DEFAULT_TZ,
    sender: Sender | None = None,
) -> bytes:
    """The department's 报送材料说明 (.docx): a title, an overview that states the paper
    materials truthfully (how many, where kept), then per assignment in indicator order its
    number and requirement in full, the explanation and the materials; bonus items and the
    deduction declarations apart; at the end what is still open. Only the items the
    department has worked on (has_content) have a section: no placeholders.

    With `sender` (the version a 报送 mails): no review states, and at the end the authenticity
    statement (item 99) naming who sent it. Without (导出, a working copy): each section says
    the item's state.
    """
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    normal = doc.styles["Normal"]
    normal.font.size = Pt(16)
    _east_asian_font(normal.element, _BODY_FONT)
    draft = sender is None

    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _styled_run(title, f"{department}关于{campaign.name}资料报送的说明", font=_TITLE_FONT, size=22)

    ordered = _sorted_rows(rows)
    regular = [r for r in ordered if r.indicator.is_regular]
    bonus = [r for r in ordered if r.indicator.kind == "bonus" and has_content(r)]
    declared = [r for r in ordered if r.indicator.kind == "deduction"]
    assignments = [r.assignment for r in regular]
    links = sum(1 for r in ordered for m in r.assignment.materials if m.is_link and not r.hides(m))
    files = sum(1 for r in ordered for m in r.assignment.materials if m.is_file and not r.hides(m))
    lead = sum(1 for a in assignments if a.role is Role.LEAD)
    done = sum(1 for a in assignments if a.is_complete)
    _paragraph(
        doc,
        f"根据{campaign.issued_by}{campaign.document}文件要求，现将{department}"
        f"{campaign.name}资料报送情况说明如下。本单位共承担{len(assignments)}项指标"
        f"（牵头{lead}项、配合{len(assignments) - lead}项），已完成{done}项；"
        f"共报送网上链接{links}条"
        + (f"、电子文件{files}个（督办系统存档）" if files else "")
        + f"。{paper_statement(ordered)}",
        indent=True,
    )

    for r in regular:
        if has_content(r):
            _section(doc, r, draft)
    if bonus:
        _paragraph(doc, "加分项（自愿申报）", font=_HEADING_FONT)
        for r in bonus:
            _section(doc, r, draft)
    statements = [
        r
        for r in declared
        if r.assignment.explanation and (draft or not r.indicator.is_authenticity)
    ]
    if statements:
        _paragraph(doc, "减分项声明", font=_HEADING_FONT)
        for r in statements:
            said = r.assignment.explanation
            _paragraph(doc, f"第{r.indicator.id}项：{said}", indent=True)
    _closing_summary(doc, regular)
    if sender is not None:
        at = _to_local(sender.at, tz).strftime("%Y-%m-%d %H:%M")
        _paragraph(doc, AUTHENTICITY, indent=True)
        _paragraph(doc, f"报送人：{sender.name}（{department}）　报送时间：{at}", indent=True)

    day = _to_local(generated_at, tz).date()
    for text in ("", department, f"{day.year}年{day.month}月{day.day}日"):
        p = doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        if text:
            _styled_run(p, text)

    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()

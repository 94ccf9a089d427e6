"""The September inspection on site (issue 16 item 6): inspectors walk through a department's
paper volumes item by item and mark each 已查验 or 有问题, with a note and photos; at the end a
findings report per department and a district summary of which departments have problems on
which items.

An inspection item is one (indicator, department) assignment the district checklist lists
(every assignment but the deduction declarations), in indicator order. Its mark is kept in the
store as a small record (`Mark`), changed compare-and-set and audited (action `inspect`), so
two inspectors on the same department never overwrite each other's notes or photos. Photos are
stored files (bot/filestore.py): the original as taken, and a small JPEG copy for pages.

The findings files are built with the binder pack's blocks (bot/binder.py): Word always, PDF
when a CJK font is on the machine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bot import filestore
from bot.binder import Block, Pictures, to_docx, to_pdf
from bot.errors import UserError
from bot.progress import Assignment
from bot.records import ConflictError
from bot.reports import CatalogRow, _to_local, role_text

if TYPE_CHECKING:
    from bot.catalog import Campaign, Catalog, Indicator

OK, PROBLEM = "ok", "problem"
STATES = {OK: "已查验", PROBLEM: "有问题"}
UNCHECKED = "未查验"
MAX_NOTE = 1000  # characters of one note
MAX_PHOTOS = 12  # photos of one item
ACTION = "inspect"  # the audit log's action for every change of a mark
NO_NOTE = "（未写明问题）"


@dataclass(frozen=True)
class Photo:
    """One photo of an item: the stored original and its small copy for pages ("" = none)."""

    file: filestore.StoredFile
    thumb: str = ""
    by: str = ""
    at: str = ""

    def to_dict(self) -> dict:
        return {**self.file.to_dict(), "thumb": self.thumb, "by": self.by, "at": self.at}

    @classmethod
    def from_dict(cls, d: dict) -> Photo:
        return cls(
            filestore.StoredFile.from_dict(d), d.get("thumb", ""), d.get("by", ""), d.get("at", "")
        )

    @property
    def shown(self) -> str:
        """The file a page shows: the small copy, else the original."""
        return self.thumb or self.file.sha256


@dataclass(frozen=True)
class Mark:
    """An item's inspection: its state ("" = not yet judged, only a note or a photo so far),
    the note as written, the photos, and who changed it last and when."""

    state: str = ""
    note: str = ""
    photos: tuple[Photo, ...] = ()
    by: str = ""
    at: str = ""

    @property
    def label(self) -> str:
        return STATES.get(self.state, UNCHECKED)

    def to_dict(self) -> dict:
        return {
            "state": self.state,
            "note": self.note,
            "photos": [p.to_dict() for p in self.photos],
            "by": self.by,
            "at": self.at,
        }

    @classmethod
    def from_dict(cls, d: Mapping | None) -> Mark:
        if not d:
            return cls()
        return cls(
            state=str(d.get("state", "")),
            note=str(d.get("note", "")),
            photos=tuple(Photo.from_dict(p) for p in d.get("photos", ())),
            by=str(d.get("by", "")),
            at=str(d.get("at", "")),
        )


@dataclass(frozen=True)
class Item:
    indicator: Indicator
    assignment: Assignment
    mark: Mark = field(default_factory=Mark)

    @property
    def id(self) -> int:
        return self.indicator.id

    @property
    def row(self) -> CatalogRow:
        return CatalogRow(self.indicator, self.assignment)

    @property
    def role(self) -> str:
        return role_text(self.row)


def items_of(
    catalog: Catalog, assignments: Mapping[int, Assignment], marks: Mapping[int, Mark]
) -> list[Item]:
    """The department's inspection items in indicator order (deduction declarations have no
    paper to inspect and are left out, as on the district checklist)."""
    return [
        Item(catalog.indicators[i], a, marks.get(i, Mark()))
        for i, a in sorted(assignments.items())
        if i in catalog.indicators and catalog.indicators[i].kind != "deduction"
    ]


def is_item(catalog: Catalog, indicator_id: int) -> bool:
    ind = catalog.get(indicator_id)
    return ind is not None and ind.kind != "deduction"


@dataclass(frozen=True)
class Progress:
    total: int
    ok: int
    problems: int

    @property
    def checked(self) -> int:
        return self.ok + self.problems

    @property
    def left(self) -> int:
        return self.total - self.checked

    @property
    def text(self) -> str:
        return f"查验 {self.checked}/{self.total}，有问题 {self.problems}"


def progress(items: Sequence[Item]) -> Progress:
    return Progress(
        len(items),
        sum(1 for i in items if i.mark.state == OK),
        sum(1 for i in items if i.mark.state == PROBLEM),
    )


# --- changing a mark ----------------------------------------------------------------------------


def check_note(note: str) -> str:
    """The note as written (the CRLF line breaks a browser sends, as they were typed: LF), or
    UserError when too long."""
    note = note.replace("\r\n", "\n")
    if len(note) > MAX_NOTE:
        raise UserError(f"备注最多 {MAX_NOTE} 个字，现在有 {len(note)} 个字，请删减后再保存。")
    return note


def keep_photo(files: filestore.FileStore, data: bytes, name: str, max_bytes: int) -> Photo:
    """Store a photo taken on the inspection (and its small copy for pages); FileRefused says
    why a file is not taken (not an image, too big, empty, a bad name)."""
    got = filestore.accept_image(data, name, max_bytes)
    files.put(data, got)
    thumb = ""
    small = filestore.thumbnail(data)
    if small is not None and len(small) < got.size:
        copy = filestore.accept(small, "thumb.jpg", max(max_bytes, len(small)))
        files.put(small, copy)
        thumb = copy.sha256
    return Photo(got, thumb)


def change(
    store,
    department: str,
    indicator_id: int,
    *,
    state: str | None = None,
    note: str | None = None,
    photos: Sequence[Photo] = (),
    drop: str = "",
    clear: bool = False,
    actor: str,
    tries: int = 5,
) -> Mark:
    """Apply one inspector's change to an item's mark, compare-and-set against what was read
    (another inspector's change meanwhile is read again and kept), audited. `state` None and
    `note` None leave them as they are; photos are added, the one whose digest is `drop` taken
    off the item (its file stays stored); `clear` forgets the judgement only (note and photos
    stay)."""
    if state is not None and state not in STATES:
        raise UserError("未知的查验结果。")
    at = store.now_iso()
    for _ in range(tries):
        raw, old = store.inspections.mark(department, indicator_id)
        before = Mark.from_dict(old)
        added = tuple(replace(p, by=actor, at=at) for p in photos)
        kept = tuple(p for p in before.photos if p.file.sha256 != drop) + tuple(
            p for p in added if p.file.sha256 not in {q.file.sha256 for q in before.photos}
        )
        if len(kept) > MAX_PHOTOS:
            raise UserError(f"每项最多保存 {MAX_PHOTOS} 张照片，本项已有 {len(before.photos)} 张。")
        after = Mark(
            state="" if clear else (before.state if state is None else state),
            note=before.note if note is None else note,
            photos=kept,
            by=actor,
            at=at,
        )
        if after.to_dict() | {"by": "", "at": ""} == before.to_dict() | {"by": "", "at": ""}:
            return before  # nothing changed: no audit entry
        try:
            store.inspections.set_mark(
                department, indicator_id, raw, after.to_dict(), actor, _audit_note(before, after)
            )
            return after
        except ConflictError:
            continue
    raise UserError("其他查验人员正在修改这一项，请稍后再试。")


def _audit_note(before: Mark, after: Mark) -> str:
    parts = []
    if after.state != before.state:
        parts.append(f"{before.label}→{after.label}")
    if after.note != before.note:
        parts.append(f"备注：{after.note}" if after.note else "删除备注")
    gone = {p.file.sha256 for p in before.photos} - {p.file.sha256 for p in after.photos}
    new = {p.file.sha256 for p in after.photos} - {p.file.sha256 for p in before.photos}
    if new:
        parts.append(f"照片 +{len(new)}")
    if gone:
        parts.append(f"删除照片 {len(gone)} 张")
    return "；".join(parts)


def said(
    department: str, item_id: int, mark: Mark, photos_added: int, dropped: bool = False
) -> str:
    """What the inspector is told after a change."""
    text = f"{department}第{item_id}项：{mark.label}"
    if mark.state == PROBLEM and not mark.note:
        text += "，请在备注里写明问题"
    if photos_added:
        text += f"，已保存照片 {photos_added} 张"
    if dropped:
        text += "，已删除 1 张照片"
    return text + "。"


# --- findings ---------------------------------------------------------------------------------


def _materials_text(item: Item) -> str:
    row = item.row
    parts = []
    for m in item.assignment.materials:
        if row.hides(m):
            parts.append(f"涉密材料（{m.location or '未写明存放位置'}）")
        elif m.is_link:
            parts.append(f"{m.name}（网上）")
        else:
            parts.append(f"{m.name}（{m.location or '未写明存放位置'}）")
    return "；".join(parts) or "未登记材料"


def _when(at: str, tz: str) -> str:
    if not at:
        return ""
    try:
        when = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return at
    return _to_local(when, tz).strftime("%m-%d %H:%M")


def findings_blocks(
    campaign: Campaign,
    department: str,
    items: Sequence[Item],
    generated_at: dt.datetime,
    tz: str,
    who=lambda actor: actor,
    photo=lambda sha256: None,
) -> list[Block]:
    """A department's findings: the counts, each item with a problem (its note, photos and
    who found it), what was checked without a problem, and what is not checked yet.
    `photo(sha256)`: a stored photo's bytes (None when it is not there); the small copies are
    printed."""
    day = _to_local(generated_at, tz).date()
    p = progress(items)
    problems = [i for i in items if i.mark.state == PROBLEM]
    fine = [i for i in items if i.mark.state == OK]
    left = [i for i in items if i.mark.state not in STATES]
    blocks = [
        Block("title", campaign.name),
        Block("title", "实地查验情况报告"),
        Block("subtitle", f"受检单位：{department}"),
        Block("subtitle", f"{day.year}年{day.month}月{day.day}日"),
        Block(
            "para",
            f"本单位共{p.total}项指标需查验，已查验{p.checked}项，其中发现问题{p.problems}项"
            + (f"，尚有{p.left}项未查验" if p.left else "，已全部查验")
            + "。",
        ),
        Block("heading", f"一、发现的问题（{len(problems)}项）"),
    ]
    if problems:
        blocks.append(
            Block(
                "table",
                header=("指标", "查验内容", "问题说明", "照片", "查验人/时间"),
                widths=(18, 50, 44, 34, 24),
                rows=tuple(
                    (
                        f"第{i.id}项（{i.role}）",
                        f"{i.indicator.level3}（材料：{_materials_text(i)}）",
                        i.mark.note or NO_NOTE,
                        _photos_cell(i.mark, photo),
                        f"{who(i.mark.by)} {_when(i.mark.at, tz)}".strip(),
                    )
                    for i in problems
                ),
            )
        )
    else:
        blocks.append(Block("para", "未发现问题。"))
    blocks.append(Block("heading", f"二、查验无问题（{len(fine)}项）"))
    if fine:
        blocks.append(
            Block(
                "table",
                header=("指标", "查验内容", "备注"),
                widths=(18, 100, 52),
                rows=tuple(
                    (f"第{i.id}项（{i.role}）", i.indicator.level3, i.mark.note) for i in fine
                ),
            )
        )
    else:
        blocks.append(Block("para", "无。"))
    blocks.append(Block("heading", f"三、尚未查验（{len(left)}项）"))
    blocks.append(
        Block("para", "、".join(f"第{i.id}项" for i in left) + "。" if left else "无，已全部查验。")
    )
    return blocks


def _photos_cell(mark: Mark, photo) -> Pictures | str:
    found = tuple(b for b in (photo(p.shown) for p in mark.photos) if b)
    if not mark.photos:
        return "无"
    if len(found) < len(mark.photos):  # a file lost from the store: say so, print the rest
        return Pictures(found) if found else f"{len(mark.photos)}张（文件缺失）"
    return Pictures(found)


def findings_files(
    campaign: Campaign,
    department: str,
    items: Sequence[Item],
    generated_at: dt.datetime,
    *,
    tz: str,
    who=lambda actor: actor,
    photo=lambda sha256: None,
    font: str = "",
) -> dict[str, bytes]:
    """{"docx": ..., and "pdf": ... when a CJK font is there}."""
    blocks = findings_blocks(campaign, department, items, generated_at, tz, who, photo)
    out = {"docx": to_docx(blocks, landscape=True)}
    if font:
        out["pdf"] = to_pdf(blocks, font, landscape=True)
    return out


@dataclass(frozen=True)
class DepartmentFindings:
    department: str
    progress: Progress
    problems: tuple[Item, ...]


def district(
    catalog: Catalog,
    departments: Sequence[str],
    assignments: Mapping[tuple[int, str], Assignment],
    marks: Mapping[str, Mapping[int, Mark]],
) -> list[DepartmentFindings]:
    """Every department with inspection items, in the organisation's order."""
    per: dict[str, dict[int, Assignment]] = {}
    for (i, d), a in assignments.items():
        per.setdefault(d, {})[i] = a
    out = []
    for d in departments:
        items = items_of(catalog, per.get(d, {}), marks.get(d, {}))
        if items:
            problems = tuple(i for i in items if i.mark.state == PROBLEM)
            out.append(DepartmentFindings(d, progress(items), problems))
    return out


def by_indicator(found: Sequence[DepartmentFindings]) -> list[tuple[int, list[str]]]:
    """(indicator, departments with a problem on it), by indicator."""
    out: dict[int, list[str]] = {}
    for f in found:
        for i in f.problems:
            out.setdefault(i.id, []).append(f.department)
    return sorted(out.items())


def summary_blocks(
    campaign: Campaign, found: Sequence[DepartmentFindings], generated_at: dt.datetime, tz: str
) -> list[Block]:
    day = _to_local(generated_at, tz).date()
    total = sum(f.progress.total for f in found)
    checked = sum(f.progress.checked for f in found)
    problems = sum(f.progress.problems for f in found)
    blocks = [
        Block("title", campaign.name),
        Block("title", "全区实地查验情况汇总"),
        Block("subtitle", f"{day.year}年{day.month}月{day.day}日"),
        Block(
            "para",
            f"{len(found)}个单位共{total}项，已查验{checked}项，发现问题{problems}项"
            f"（涉及{sum(1 for f in found if f.problems)}个单位）。",
        ),
        Block("heading", "一、各单位查验进度"),
        Block(
            "table",
            header=("单位", "已查验", "有问题", "未查验", "有问题的指标"),
            widths=(40, 18, 18, 18, 76),
            rows=tuple(
                (
                    f.department,
                    f"{f.progress.checked}/{f.progress.total}",
                    str(f.progress.problems),
                    str(f.progress.left),
                    "、".join(f"第{i.id}项" for i in f.problems),
                )
                for f in found
            ),
        ),
        Block("heading", "二、按指标的问题"),
    ]
    rows = by_indicator(found)
    if rows:
        blocks.append(
            Block(
                "table",
                header=("指标", "有问题的单位"),
                widths=(30, 140),
                rows=tuple((f"第{i}项", "、".join(ds)) for i, ds in rows),
            )
        )
        blocks.append(Block("heading", "三、问题明细"))
        blocks.append(
            Block(
                "table",
                header=("单位", "指标", "问题说明"),
                widths=(40, 20, 110),
                rows=tuple(
                    (f.department, f"第{i.id}项", i.mark.note or NO_NOTE)
                    for f in found
                    for i in f.problems
                ),
            )
        )
    else:
        blocks.append(Block("para", "未发现问题。"))
    return blocks

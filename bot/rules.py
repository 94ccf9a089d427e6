"""The domain operations as pure functions: each takes the state it rules on and returns what
changes (an Edit), or raises UserError with the sentence to show. Chat handlers, the admin
pages and the API load the state, call a rule here and save the Edit; nothing here does I/O."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

from bot import texts
from bot.catalog import SECRET_MARK, Campaign, Catalog, Event, Indicator
from bot.chars import first_illegal
from bot.errors import UserError
from bot.filestore import StoredFile
from bot.messages import Notice
from bot.paste import LinkGroup
from bot.progress import Assignment, Material, Role, Status, status_after_edit
from bot.records import Change
from bot.render import with_actions
from bot.timeline import Timeline

MAX_MATERIALS = 50  # per assignment: the catalogue stays a list a reviewer can read
TOO_MANY_MATERIALS = "第{n}项最多 {max} 份材料，请先删除不需要的材料。"
MAX_REASON = 500  # a 退回 or 不涉及 reason
REWORK_PAST = "返工期限（{day}）已经过去，请选今天或以后的日期。"

# What 撤销 names when it reverts an action (the action names of the audit log).
UNDO_LABELS = {
    "submit": "提交链接",
    "paper": "登记纸质材料",
    "file": "上传文件",
    "explain": "填写说明",
    "done": "标记完成",
    "not_applicable": "标记不涉及",
    "delete": "删除材料",
    "place": "写明存放位置",
    "declare": "声明",
    "rectify": "填写整改说明",
}


@dataclass(frozen=True)
class Edit:
    """A rule's decision: the assignment's new state and what is saved with it (the audit
    action and note, notices to send, links to check, and how the undo stack moves)."""

    after: Assignment
    action: str
    note: str = ""
    notices: tuple[Notice, ...] = ()
    link_urls: tuple[str, ...] = ()
    undo: str = "push"  # push | pop | keep


def to_change(
    before: Assignment, before_raw: str, edit: Edit, actor: str, by_office: bool, catalog: Catalog
) -> Change:
    """The store's record of an Edit: with the undo entry that lets 撤销 revert it (`by_office`:
    the office acted on a department's item, which the department may not revert), and the
    moment the department's completed set changed, for the ranking's tie-break."""
    after = edit.after
    ind = catalog.get(after.indicator_id)
    counts = ind is None or ind.is_regular  # bonus and deduction items never count
    reached = after.updated_at if counts and before.is_complete != after.is_complete else ""
    entry = ""
    if edit.undo == "push":
        entry = json.dumps(
            {"by": actor, "admin": by_office, "action": edit.action, "before": before_raw},
            ensure_ascii=False,
        )
    return Change(
        before_raw=before_raw,
        after=after,
        actor=actor,
        action=edit.action,
        undo=edit.undo,
        undo_entry=entry,
        reached_at=reached,
        notices=edit.notices,
        note=edit.note,
        link_urls=edit.link_urls,
    )


class Unchanged(UserError):
    """The state already is what was asked (approve an approved item, the same 退回 reason
    again): chat says so; the API answers a repeated request as done, changing nothing."""


class NeedsConfirmation(UserError):
    """An approval that deserves a second look; its text says why and how to confirm."""

    def __init__(self, text: str, doubt: str):
        super().__init__(text)
        self.doubt = doubt


def check_text(text: str, max_len: int) -> str:
    """`text` if it fits and every character of it can be kept and exported (bot.chars): a
    reason from a web form or the API is held to what chat's parser holds it to."""
    if len(text) > max_len:
        raise UserError(texts.TOO_LONG.format(n=max_len))
    bad = first_illegal(text)
    if bad:
        raise UserError(texts.UNSTORABLE.format(code=bad))
    return text


def _check_room(ind: Indicator, have: int, adding: int) -> None:
    if have + adding > MAX_MATERIALS:
        raise UserError(TOO_MANY_MATERIALS.format(n=ind.id, max=MAX_MATERIALS))


# --- a department's own work ---------------------------------------------------------------


def mark_done(a: Assignment, ind: Indicator, *, starred: bool, by: str, at: str) -> Edit:
    """完成: needs a material or an explanation, and a ★ item its 整改说明."""
    if a.status is Status.DONE:
        raise Unchanged(f"第{ind.id}项已经标记完成，无需重复标记。")
    if a.status is Status.APPROVED:
        raise UserError(f"第{ind.id}项已经审核通过，无需再标记完成。")
    if starred and not a.rectification:
        raise UserError(
            f"第{ind.id}项是★整改项（前期网上申报显示需进一步加强整改），"
            f"请先发送「整改 {ind.id} 整改情况」写明整改说明，再标记完成。"
        )
    if not a.materials and not a.explanation:
        raise UserError(
            f"第{ind.id}项还没有材料或说明，不能标记完成。"
            f"请先发送「提交 {ind.id} 网址 名称」「纸质 {ind.id} 名称」或「说明 {ind.id} 文字」。"
        )
    return Edit(a.changed(by, at, status=Status.DONE, reason=""), "done")


def mark_not_applicable(
    a: Assignment, ind: Indicator, reason: str, *, assigned: bool, by: str, at: str
) -> Edit:
    """不涉及: a cooperating unit with nothing for an indicator, with a reason. `assigned`: the
    table (or an earlier change) gave the department this item."""
    if ind.kind == "bonus" and not assigned:
        raise UserError(f"第{ind.id}项是加分项，自愿申报，不涉及时无需标记。")
    # bonus and deduction items never count: a lead unit may say it has nothing for them
    if a.role is Role.LEAD and ind.is_regular:
        raise UserError(
            f"{a.department}是第{ind.id}项的牵头单位，不能标记不涉及。请提交材料后发送「完成 {ind.id}」。"
        )
    if a.status is Status.NOT_APPLICABLE and a.reason == reason:
        raise Unchanged(f"第{ind.id}项已标记为不涉及，无需重复。")
    after = a.changed(by, at, status=Status.NOT_APPLICABLE, reason=reason)
    return Edit(after, "not_applicable", note=reason)


def refuse_secret_links(ind: Indicator, links: tuple[LinkGroup, ...]) -> None:
    """A 涉密 material never goes on the web: its item or its name says so -> 纸质 instead."""
    secret = next((g.name for g in links if SECRET_MARK in g.name), None)
    if not ind.is_secret and secret is None:
        return
    why = f"第{ind.id}项的考评要点注明涉密" if ind.is_secret else "材料名称注明涉密"
    name = secret or next((g.name for g in links if g.name), "")
    title = name.replace(SECRET_MARK, "").strip("（）() ") or ind.evidence.split("。")[0]
    title = texts.quoted(title) or "材料名称"
    raise UserError(texts.SECRET_NO_LINK.format(why=why, n=ind.id, title=title))


def add_links(
    a: Assignment, ind: Indicator, links: tuple[LinkGroup, ...], *, who: str, by: str, at: str
) -> Edit:
    """提交: the links not yet in the catalogue are added (named as written, numbered when
    several share a name); `who` is the submitter's name kept with each material."""
    refuse_secret_links(ind, links)
    have = {m.url for m in a.materials}
    new = [u for g in links for u in g.urls if u not in have]
    if not new:
        raise UserError(
            f"这些链接已在第{ind.id}项的材料中，无需重复提交。发送「查看 {ind.id}」核对。"
        )
    _check_room(ind, len(a.materials), len(new))
    added = tuple(Material(t, u, who, at) for t, u in titled_links(links, have))
    materials = a.materials + added
    after = a.changed(
        by, at, materials=materials, status=status_after_edit(a, materials, a.explanation)
    )
    return Edit(after, "submit", link_urls=tuple(new))


def titled_links(groups: tuple[LinkGroup, ...], have: set[str]) -> list[tuple[str, str]]:
    """(title, url) of each new link: links that share one name are numbered （1）（2）."""
    out = []
    for g in groups:
        new = [u for u in g.urls if u not in have]
        for i, u in enumerate(new, start=1):
            out.append((f"{g.name}（{i}）" if g.name and len(new) > 1 else g.name, u))
    return out


def add_paper(
    a: Assignment, ind: Indicator, title: str, place: str, *, who: str, by: str, at: str
) -> Edit:
    """纸质: a paper material, with where it is kept; a 涉密 one must say where."""
    secret = ind.is_secret or SECRET_MARK in title
    if secret and not place:
        raise UserError(texts.SECRET_NEEDS_PLACE.format(n=ind.id, title=texts.quoted(title)))
    if any(m.title == title and not m.url for m in a.materials):
        raise UserError(f"第{ind.id}项已有纸质材料「{texts.quoted(title)}」，无需重复登记。")
    _check_room(ind, len(a.materials), 1)
    materials = a.materials + (Material(title, "", who, at, place, secret),)
    after = a.changed(
        by, at, materials=materials, status=status_after_edit(a, materials, a.explanation)
    )
    return Edit(after, "paper")


def add_file(
    a: Assignment,
    ind: Indicator,
    file: StoredFile,
    location: str,
    *,
    who: str,
    by: str,
    at: str,
) -> Edit:
    """上传 (the fill-in page) or a file sent in chat and filed by its number: a stored file as
    a material, named as it was given, with where the file store keeps it. A 涉密 item's
    materials never go into the system: they are registered as paper."""
    if ind.is_secret or SECRET_MARK in file.name:
        why = f"第{ind.id}项的考评要点注明涉密" if ind.is_secret else "文件名称注明涉密"
        raise UserError(
            f"{why}，涉密材料不能上传。请发送「纸质 {ind.id} 材料名称 存放：位置」登记纸质材料，"
            "实地查验时现场查阅。"
        )
    if any(m.file is not None and m.file.sha256 == file.sha256 for m in a.materials):
        raise UserError(
            f"文件「{texts.quoted(file.name, 40)}」已在第{ind.id}项的材料中，无需重复上传。"
        )
    _check_room(ind, len(a.materials), 1)
    materials = a.materials + (Material(file.name, "", who, at, location, file=file),)
    after = a.changed(
        by, at, materials=materials, status=status_after_edit(a, materials, a.explanation)
    )
    return Edit(after, "file", note=file.name)


def explain(a: Assignment, ind: Indicator, text: str, *, by: str, at: str) -> Edit:
    """说明: the department's 报送说明 for the item, replacing the one before."""
    if text == a.explanation:
        raise Unchanged(f"第{ind.id}项的说明与现有内容相同，未作修改。")
    status = status_after_edit(a, a.materials, text)
    return Edit(a.changed(by, at, explanation=text, status=status), "explain")


def require_star(ind: Indicator, starred: bool) -> None:
    """Only a ★ item has a 整改说明."""
    if not starred:
        raise UserError(
            f"第{ind.id}项不是★整改项，无需整改说明；报送说明请发送「说明 {ind.id} 文字」。"
        )


def rectify(a: Assignment, ind: Indicator, text: str, *, starred: bool, by: str, at: str) -> Edit:
    """整改: the 整改说明 a ★ item needs before it can be marked done."""
    require_star(ind, starred)
    if text == a.rectification:
        raise Unchanged(f"第{ind.id}项的整改说明与现有内容相同，未作修改。")
    status = status_after_edit(a, a.materials, a.explanation, text)
    return Edit(a.changed(by, at, rectification=text, status=status), "rectify")


def place_material(
    a: Assignment, ind: Indicator, number: int, place: str, *, by: str, at: str
) -> Edit:
    """存放: where the paper material numbered as in 查看 (from 1) is kept."""
    if not 1 <= number <= len(a.materials):
        if not a.materials:
            raise UserError(f"第{ind.id}项还没有材料。")
        raise UserError(
            f"第{ind.id}项只有 {len(a.materials)} 份材料，序号应为 1–{len(a.materials)}。"
        )
    m = a.materials[number - 1]
    if m.url:
        raise UserError(f"第{ind.id}项第{number}份是网上链接，无需存放位置。")
    if m.file is not None:
        raise UserError(f"第{ind.id}项第{number}份是已上传的文件，无需存放位置。")
    if m.location == place:
        raise Unchanged(f"第{ind.id}项第{number}份已写明存放在{texts.quoted(place)}，无需重复。")
    materials = a.materials[: number - 1] + (replace(m, location=place),) + a.materials[number:]
    return Edit(a.changed(by, at, materials=materials), "place", note=place)


def require_declarable(ind: Indicator) -> None:
    """Only a deduction item (减分项) is answered by a declaration; the authenticity one (row 99)
    by the statement every 报送 carries."""
    if ind.kind != "deduction":
        raise UserError(f"第{ind.id}项不是减分项，无需声明；报送说明请发送「说明 {ind.id} 文字」。")
    if ind.is_authenticity:
        raise UserError(
            f"第{ind.id}项（材料真实性）无需单独声明：每次「报送」都附真实性承诺，并写明报送人。"
        )


def declare(a: Assignment, ind: Indicator, said: str, *, by: str, at: str) -> Edit:
    """声明: the deduction item is answered (done) by `said`, a declaration or a disclosure."""
    require_declarable(ind)
    if a.explanation == said and a.status is Status.DONE:
        raise Unchanged(f"第{ind.id}项已作同样的声明，无需重复。")
    after = a.changed(by, at, explanation=said, status=Status.DONE, reason="")
    return Edit(after, "declare", note=said)


def delete_material(a: Assignment, ind: Indicator, number: int, *, by: str, at: str) -> Edit:
    """删除: the material numbered as in 查看 (from 1) goes; its URL or title is the note."""
    if not a.materials:
        raise UserError(f"第{ind.id}项还没有材料。")
    if not 1 <= number <= len(a.materials):
        raise UserError(
            f"第{ind.id}项只有 {len(a.materials)} 份材料，序号应为 1–{len(a.materials)}。"
        )
    gone = a.materials[number - 1]
    materials = a.materials[: number - 1] + a.materials[number:]
    after = a.changed(
        by, at, materials=materials, status=status_after_edit(a, materials, a.explanation)
    )
    return Edit(after, "delete", note=gone.url or gone.title)


def undo_last(a: Assignment, ind: Indicator, top: str | None, *, by: str, at: str) -> Edit:
    """撤销: back to the state before the department's own last change (`top`: the undo stack's
    top entry as stored); the office's reviews are not the department's to revert."""
    if not top:
        raise UserError(f"第{ind.id}项没有可以撤销的操作。")
    entry = json.loads(top)
    if entry.get("admin"):
        raise UserError(
            f"第{ind.id}项的最近一次变更是依法治区办的审核，不能撤销。如有疑问请联系依法治区办。"
        )
    old = Assignment.from_json(ind.id, a.department, entry["before"])
    # The restored state gets a fresh version so the compare-and-set chain only moves forward.
    after = replace(old, updated_by=by, updated_at=at, version=a.version + 1)
    return Edit(after, "undo", note=entry.get("action", ""), undo="pop")


# --- the office's review -------------------------------------------------------------------


def approval_doubt(a: Assignment, links: dict[str, dict]) -> str:
    """Why approving `a` deserves a second look ("" when the department marked it 已完成): it is
    not marked done, was returned and not done again, or is 不涉及; and how many of its links do
    not open (`links`: the link states of its materials)."""
    if a.status is Status.DONE:
        return ""
    if a.status is Status.RETURNED:
        why = f"退回后还没有重新标记完成（退回原因：{texts.quoted(a.reason)}）"
    elif a.status is Status.NOT_APPLICABLE:
        why = f"标记的是不涉及（原因：{texts.quoted(a.reason)}）"
    else:
        why = f"还没有标记完成（目前是{a.status.label}）"
    urls = [m.url for m in a.materials if m.url]
    dead = sum(1 for u in urls if u in links and not links[u].get("ok"))
    if dead:
        why += (
            f"，且链接都打不开（{dead} 个）" if dead == len(urls) else f"，且 {dead} 个链接打不开"
        )
    return why


def approve(
    a: Assignment,
    ind: Indicator,
    *,
    confirmed: bool,
    links: Callable[[], dict[str, dict]],
    buttons: tuple[tuple[str, str], ...] = (),
    by: str,
    at: str,
) -> Edit:
    """通过: the office accepts a department's work and tells it. Anything but 已完成 is approved
    only when `confirmed`; otherwise NeedsConfirmation says why. `links` reads the check states
    of its links, asked only when a doubt is to be told (a round trip saved otherwise).
    `buttons`: the department's page (bot.filllinks.door_for)."""
    if a.status is Status.APPROVED:
        raise Unchanged(f"{a.department}第{ind.id}项已经审核通过，无需重复操作。")
    if a.status is Status.TODO:
        raise UserError(
            f"{a.department}第{ind.id}项尚无任何材料，不能通过。可发送「催办 {a.department}」。"
        )
    if not confirmed and a.status is not Status.DONE:
        doubt = approval_doubt(a, links())
        raise NeedsConfirmation(
            f"{a.department}第{ind.id}项{doubt}，本次没有通过。\n"
            f"如确认要通过，请发送「通过 {ind.id} {a.department} 确认」。",
            doubt,
        )
    after = a.changed(by, at, status=Status.APPROVED, reason="")
    notice = Notice(
        with_actions(f"✅ 第{ind.id}项已通过依法治区办审核，辛苦了！", buttons),
        a.department,
        kind="review",
    )
    return Edit(after, "approve", notices=(notice,))


def return_item(
    a: Assignment,
    ind: Indicator,
    reason: str,
    *,
    mentions: tuple[str, ...] = (),
    rework: date | None = None,
    today: date | None = None,
    buttons: tuple[tuple[str, str], ...] = (),
    by: str,
    at: str,
) -> Edit:
    """退回: the office sends a department's work back with a reason (kept as written) and
    tells the department, @-mentioning `mentions` (its liaisons). `rework`: an optional 返工期限
    (not before `today`), kept with the assignment for 我的任务 and the reminders. `buttons`:
    the department's page, as bot.filllinks.door_for gives them (a card where it can be one)."""
    if not reason.strip():
        raise UserError(texts.NEED_RETURN_REASON)
    check_text(reason, MAX_REASON)
    if rework is not None and today is not None and rework < today:
        raise UserError(REWORK_PAST.format(day=texts.month_day(rework)))
    if a.status is Status.TODO:
        raise UserError(
            f"{a.department}第{ind.id}项还没有开始，没有可以退回的材料。"
            f"如需提醒，请发送「催办 {a.department}」。"
        )
    due = rework.isoformat() if rework else ""
    if a.status is Status.RETURNED and a.reason == reason and a.rework == due:
        raise Unchanged(f"{a.department}第{ind.id}项已按同样的原因退回过。")
    after = a.changed(by, at, status=Status.RETURNED, reason=reason, rework=due)
    by_when = f"返工期限：{texts.month_day(rework)}\n" if rework else ""
    notice = Notice(
        with_actions(
            f"🔴 第{ind.id}项被依法治区办退回。\n原因：{texts.quoted(reason)}\n{by_when}"
            f"请补充修改后发送「完成 {ind.id}」。查看详情：查看 {ind.id}",
            buttons,
        ),
        a.department,
        mentions=mentions,
        kind="review",
    )
    return Edit(after, "return", notices=(notice,), note=reason)


# --- comments ------------------------------------------------------------------------------

MAX_COMMENT = 500
NEED_COMMENT = "请写上留言内容，例如：留言 12 台账已补充，请再看一下。"


def comment(text: str, *, office: bool, name: str) -> dict:
    """A comment in a department × indicator thread, kept as written: `office` says which side
    wrote it (依法治区办 or the department), `name` who."""
    if not text.strip():
        raise UserError(NEED_COMMENT)
    check_text(text, MAX_COMMENT)
    return {"side": "office" if office else "department", "name": name, "text": text}


def star(starred: bool, wanted: bool | None = None) -> bool | None:
    """星标: the ★ an item takes, `wanted` or (None) the opposite of `starred`; None when it
    stays as it is. A ★ item comes first, weighs double, and needs its 整改说明 to be done."""
    new = (not starred) if wanted is None else wanted
    return None if new == starred else new


# --- the campaign's dates --------------------------------------------------------------------


@dataclass(frozen=True)
class EventDay:
    """A decided change of an event's day: compare-and-set from `expected` (the office's
    setting now) to `day` (None clears it), and the sentence that says what changed."""

    key: str
    expected: date | None
    day: date | None
    message: str


def inspection(campaign: Campaign) -> Event:
    """The on-site inspection whose day the office sets (the first event when none is so named)."""
    event = campaign.event("inspection") or (campaign.events[0] if campaign.events else None)
    if event is None:
        raise UserError("本次创建活动没有安排实地查验。")
    return event


def set_inspection_day(
    campaign: Campaign, event_dates: dict[str, date], day: date | None, today: date
) -> EventDay:
    """查验日期: set the inspection's day (a future one), or with None clear it to the plan."""
    event = inspection(campaign)
    title, stored = texts.event_title(event), event_dates.get(event.key)
    if day is None:
        if stored is None:
            raise Unchanged(f"{title}尚未设置日期，无需清除。")
        planned = texts.event_when(Timeline(campaign), event)
        return EventDay(
            event.key, stored, None, f"已清除{title}的日期，各部门将看到「{planned}」。"
        )
    if day < today:
        raise UserError(f"{texts.month_day(day)}已经过去，请写今天以后的日期。")
    if day == Timeline(campaign, event_dates).event_date(event):
        raise Unchanged(f"{title}已定于 {texts.month_day(day)}，无需重复设置。")
    outside = ""
    if not event.window_start <= day <= event.window_end:
        planned = texts.event_when(Timeline(campaign), event).split("（")[0]
        outside = f"（注意：不在原定的{planned}内）"
    said = (
        f"已将{title}定于 {day.year}年{texts.month_day(day)}{outside}。"
        "各部门的提醒和「我的任务」将写明这一日期。"
    )
    return EventDay(event.key, stored, day, said)

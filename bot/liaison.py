"""A department's own acts from its fill-in page (/m/…): add a link or a paper item, write the
explanation or a ★ item's 整改说明, say where a paper item is kept, delete a material, undo, 完成, 不涉及.

Each loads the assignment, applies the rule of bot.rules that the chat command applies (提交,
纸质, 说明, 整改, 存放, 删除, 撤销, 完成, 不涉及), and saves it as the chat's dispatcher does: the same audit
entry under the same actor ("platform:user"), the same undo entry, the same notices, re-read on
a conflict. Fields arrive whole from a form, never parsed out of a sentence; what chat parses (a
web address) is parsed by the chat's own parser.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import filestore, rules, texts
from bot.errors import UserError
from bot.filllinks import FillLink
from bot.office import RETRIES, Busy, NotFound, indicator_of, save_edit
from bot.paste import MAX_NAME, LinkGroup, PasteError, read_links
from bot.progress import Assignment
from bot.records import ConflictError

MAX_PAPER = 200  # a paper item's name or place, as chat's 纸质 holds it
MAX_EXPLANATION = 2000  # as chat's 说明 holds it


@dataclass(frozen=True)
class Done:
    """What an act came to: the sentence to show and the assignment as it is now."""

    message: str
    assignment: Assignment


STALE = "第{n}项刚有变动（可能在群里或另一个页面改过），请看页面上的最新内容后再操作。"


def _act(
    rt,
    link: FillLink,
    indicator_id: int,
    seen: int | None,
    decide,
    said,
) -> Done:
    """Load, decide (a rule's call), save; again on a conflicting write. `seen`: the version
    of the item the page showed, so a form sent twice, or after a change made elsewhere,
    changes nothing. `said(ind, before, edit)` is the sentence shown once saved."""
    ind = indicator_of(rt, indicator_id)
    for _ in range(RETRIES):
        a, raw = rt.store.assignments.get(ind.id, link.department)
        if a is None:
            raise NotFound(texts.NOT_RESPONSIBLE.format(dept=link.department, n=ind.id))
        if seen is not None and a.version != seen:
            raise UserError(STALE.format(n=ind.id))
        edit = decide(ind, a)
        try:
            save_edit(rt, a, raw, edit, link.actor, by_office=False)
        except ConflictError:
            continue
        return Done(said(ind, a, edit), edit.after)
    raise Busy(texts.BUSY)


def _at(rt) -> str:
    return rt.store.now_iso()


def _starred(rt, ind) -> bool:
    return rt.store.assignments.star_overrides().get(ind.id, ind.star)


def add_link(
    rt, link: FillLink, indicator_id: int, url: str, name: str, *, seen: int | None = None
) -> Done:
    """提交 of one web address (read by chat's parser) with its name as typed ("" = the page's
    title, fetched by the link check)."""
    url = url.strip()
    if not url:
        raise UserError("请填写网址，例如 https://www.example.gov.cn/a.html")
    try:
        groups = read_links(url)
    except PasteError as e:
        raise UserError(str(e)) from None
    if len(groups) != 1 or len(groups[0].urls) != 1 or groups[0].name:
        raise UserError("网址一栏只填一个网址（以 http:// 或 https:// 开头），名称请写在名称一栏。")
    name = rules.check_text(name.strip(), MAX_NAME)
    group = LinkGroup(name, groups[0].urls)

    def decide(ind, a):
        rules.refuse_secret_links(ind, (group,))
        who = link.name or link.user_id
        return rules.add_links(a, ind, (group,), who=who, by=link.actor, at=_at(rt))

    def said(ind, a, edit):
        return f"已添加第{ind.id}项的链接，本项现有材料 {len(edit.after.materials)} 份。"

    return _act(rt, link, indicator_id, seen, decide, said)


def add_paper(
    rt, link: FillLink, indicator_id: int, title: str, place: str, *, seen: int | None = None
) -> Done:
    """纸质: a paper item and where it is kept, both as typed."""
    title, place = title.strip(), place.strip()
    if not title:
        raise UserError("请填写纸质材料的名称，例如：2019年执法案卷评查记录")
    rules.check_text(title, MAX_PAPER)
    rules.check_text(place, MAX_PAPER)

    def decide(ind, a):
        who = link.name or link.user_id
        return rules.add_paper(a, ind, title, place, who=who, by=link.actor, at=_at(rt))

    def said(ind, a, edit):
        tail = "" if place else "请在材料下方补写存放位置，以备实地查验。"
        return f"已登记第{ind.id}项纸质材料「{texts.quoted(title)}」。{tail}"

    return _act(rt, link, indicator_id, seen, decide, said)


def add_file(
    rt, link: FillLink, indicator_id: int, data: bytes, name: str, *, seen: int | None = None
) -> Done:
    """上传: a file or photo as evidence. Checked by its content, size and name first
    (bot.filestore.accept: a refusal stores nothing), then by the rules (涉密, the same file
    twice, too many materials); its bytes are kept only once the rules let it in."""
    try:
        file = filestore.accept(data, name, rt.settings.file_max_bytes)
    except filestore.FileRefused as e:
        raise UserError(str(e)) from None
    store = rt.services.files

    def decide(ind, a):
        who = link.name or link.user_id
        where = store.location(file.sha256)
        edit = rules.add_file(a, ind, file, where, who=who, by=link.actor, at=_at(rt))
        store.put(data, file)
        return edit

    def said(ind, a, edit):
        n = len(edit.after.materials)
        return f"已上传第{ind.id}项的文件「{texts.quoted(file.name, 40)}」，本项现有材料 {n} 份。"

    return _act(rt, link, indicator_id, seen, decide, said)


def explain(rt, link: FillLink, indicator_id: int, text: str, *, seen: int | None = None) -> Done:
    """说明: kept exactly as typed (line breaks, full-width punctuation, spaces)."""

    def decide(ind, a):
        return rules.explain(a, ind, text, by=link.actor, at=_at(rt))

    return _text(rt, link, indicator_id, text, seen, decide, "报送说明", "请写上说明内容。")


def rectify(rt, link: FillLink, indicator_id: int, text: str, *, seen: int | None = None) -> Done:
    """整改: a ★ item's 整改说明, kept exactly as typed; needed before 完成."""

    def decide(ind, a):
        starred = _starred(rt, ind)
        return rules.rectify(a, ind, text, starred=starred, by=link.actor, at=_at(rt))

    return _text(rt, link, indicator_id, text, seen, decide, "整改说明", "请写上整改情况。")


def _text(rt, link, indicator_id, text, seen, decide, what: str, empty: str) -> Done:
    """A free text of the item (说明, 整改说明): refused blank or unstorable, else kept as typed."""
    if not text.strip():
        raise UserError(empty)
    rules.check_text(text, MAX_EXPLANATION)

    def said(ind, a, edit):
        return f"已保存第{ind.id}项的{what}（{len(text)} 字）。"

    return _act(rt, link, indicator_id, seen, decide, said)


def place(
    rt, link: FillLink, indicator_id: int, number: int, where: str, *, seen: int | None = None
) -> Done:
    """存放: where the paper item numbered as on the page (from 1) is kept, as typed."""
    where = where.strip()
    if not where:
        raise UserError("请填写存放位置，例如：档案室3号柜")
    rules.check_text(where, MAX_PAPER)

    def decide(ind, a):
        return rules.place_material(a, ind, number, where, by=link.actor, at=_at(rt))

    def said(ind, a, edit):
        return f"已写明第{number}份材料的存放位置：{texts.quoted(where)}。"

    return _act(rt, link, indicator_id, seen, decide, said)


def delete(rt, link: FillLink, indicator_id: int, number: int, *, seen: int | None = None) -> Done:
    """删除: the material numbered as on the page (from 1)."""

    def decide(ind, a):
        return rules.delete_material(a, ind, number, by=link.actor, at=_at(rt))

    def said(ind, a, edit):
        gone = a.materials[number - 1]
        return f"已删除材料「{texts.quoted(gone.name)}」。如删错了，点「撤销上一步」。"

    return _act(rt, link, indicator_id, seen, decide, said)


def undo(rt, link: FillLink, indicator_id: int, *, seen: int | None = None) -> Done:
    """撤销: the department's last change on the item."""

    def decide(ind, a):
        top = rt.store.assignments.undo_top(link.department, ind.id)
        return rules.undo_last(a, ind, top, by=link.actor, at=_at(rt))

    def said(ind, a, edit):
        what = rules.UNDO_LABELS.get(edit.note, "上一次操作")
        return f"已撤销「{what}」，当前状态：{edit.after.status.label}。"

    return _act(rt, link, indicator_id, seen, decide, said)


def mark_done(rt, link: FillLink, indicator_id: int, *, seen: int | None = None) -> Done:
    def decide(ind, a):
        starred = _starred(rt, ind)
        return rules.mark_done(a, ind, starred=starred, by=link.actor, at=_at(rt))

    def said(ind, a, edit):
        return f"第{ind.id}项已标记完成。"

    return _act(rt, link, indicator_id, seen, decide, said)


def not_applicable(
    rt, link: FillLink, indicator_id: int, reason: str, *, seen: int | None = None
) -> Done:
    reason = reason.strip()
    if not reason:
        raise UserError("请写明不涉及的原因，例如：我单位无政府购买服务项目")
    rules.check_text(reason, rules.MAX_REASON)

    def decide(ind, a):
        return rules.mark_not_applicable(a, ind, reason, assigned=True, by=link.actor, at=_at(rt))

    def said(ind, a, edit):
        return f"第{ind.id}项已标记为不涉及。如有误，点「撤销上一步」。"

    return _act(rt, link, indicator_id, seen, decide, said)

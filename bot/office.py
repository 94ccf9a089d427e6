"""The office's acts from outside chat (the admin pages and the API): review (通过, 退回), ★,
the inspection's day, and bindings (解绑, and with Settings.bind_approval the 绑定 requests).

Each loads the state, applies the rule of bot.rules that 通过/退回/星标 apply in chat, and
saves the result with the same audit entry, undo entry and notices, re-reading on a conflict.
Department names arrive whole (a form field, a JSON string), never parsed out of a sentence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from bot import delivery, filllinks, rules, texts
from bot.catalog import Indicator
from bot.errors import UserError
from bot.messages import Notice, mention
from bot.progress import Assignment
from bot.records import Binding, ConflictError
from bot.render import with_actions
from bot.review import liaisons

log = logging.getLogger(__name__)

RETRIES = 5  # re-reads after a conflicting write, as the chat dispatcher does


class NotFound(UserError):
    """No such indicator, department or assignment: the text says which and what exists."""


class Busy(UserError):
    """Every attempt met a concurrent change; nothing was saved."""


@dataclass(frozen=True)
class Result:
    """What an act came to: `changed` False when the state already was as asked (the message
    says so); the assignment or the ★ as they are now."""

    changed: bool
    message: str
    assignment: Assignment | None = None
    starred: bool | None = None


def indicator_of(rt, indicator_id: int) -> Indicator:
    ind = rt.catalog.get(indicator_id)
    if ind is None:
        lo, hi = rt.catalog.min_id, rt.catalog.max_id
        raise NotFound(texts.NO_SUCH_INDICATOR.format(n=indicator_id, lo=lo, hi=hi))
    return ind


def _load(rt, ind: Indicator, department: str) -> tuple[Assignment, str]:
    if department not in rt.org.departments:
        raise NotFound(texts.NO_DEPARTMENT.format(name=texts.quoted(department, 40)))
    a, raw = rt.store.assignments.get(ind.id, department)
    if a is None:
        raise NotFound(texts.NOT_RESPONSIBLE_OF.format(dept=department, n=ind.id))
    return a, raw


def _review(rt, indicator_id: int, department: str, actor: str, decide) -> Result:
    """Load, decide (a rule's call on the assignment), save; again on a conflicting write."""
    ind = indicator_of(rt, indicator_id)
    for _ in range(RETRIES):
        a, raw = _load(rt, ind, department)
        try:
            edit = decide(ind, a)
        except rules.Unchanged as e:
            return Result(False, str(e), a)
        try:
            save_edit(rt, a, raw, edit, actor, by_office=True)
        except ConflictError:
            continue
        return Result(True, "", edit.after)
    raise Busy(texts.BUSY)


def save_edit(rt, a: Assignment, raw: str, edit: rules.Edit, actor: str, *, by_office: bool):
    """Save a rule's decision as chat's dispatcher does (audit entry, undo entry, notices);
    ConflictError when the stored state moved since `raw` was read. Notices go out at once."""
    rt.store.assignments.save(rules.to_change(a, raw, edit, actor, by_office, rt.catalog))
    if edit.notices:
        _drain_now(rt)


def _drain_now(rt) -> None:
    """Review notices reach the department's chat at once, as from chat (bot/inbound.py): the
    outbox is drained now, not at the next minute's sweep."""
    try:
        delivery.request_drain(rt.store, rt.services.enqueue)
    except Exception:  # the notice is safe in the outbox; the sweep sends it
        log.exception("could not enqueue a drain of the outbox")


def approve(rt, indicator_id: int, department: str, *, confirmed: bool, actor: str) -> Result:
    """通过: raises rules.NeedsConfirmation when anything but 已完成 is not `confirmed`."""

    def decide(ind, a):
        def links():
            return rt.store.links.states(m.url for m in a.materials if m.url)

        at = rt.store.now_iso()
        door = tuple(filllinks.door_for(rt.services, department, (ind.id,)))
        return rules.approve(
            a, ind, confirmed=confirmed, links=links, buttons=door, by=actor, at=at
        )

    out = _review(rt, indicator_id, department, actor, decide)
    said = texts.APPROVED.format(dept=department, n=indicator_id)
    return out if not out.changed else Result(True, said, out.assignment)


def return_item(
    rt, indicator_id: int, department: str, reason: str, *, actor: str, rework: date | None = None
) -> Result:
    """退回 with `reason` kept exactly as written, and an optional 返工期限 `rework`."""

    def decide(ind, a):
        mentions = liaisons(rt.org, rt.store, department)
        at = rt.store.now_iso()
        today = rt.calendar.local_today(rt.store.clock())
        door = tuple(filllinks.door_for(rt.services, department, (ind.id,)))
        return rules.return_item(
            a, ind, reason, mentions=mentions, rework=rework, today=today, buttons=door,
            by=actor, at=at,
        )  # fmt: skip

    out = _review(rt, indicator_id, department, actor, decide)
    said = texts.RETURNED.format(dept=department, n=indicator_id)
    return out if not out.changed else Result(True, said, out.assignment)


def set_star(rt, indicator_id: int, wanted: bool | None, *, actor: str) -> Result:
    """星标: `wanted` ★ or not; None turns it over (as 星标 in chat)."""
    ind = indicator_of(rt, indicator_id)
    for _ in range(RETRIES):
        override = rt.store.assignments.star_overrides().get(ind.id)
        starred = ind.star if override is None else override
        new = rules.star(starred, wanted)
        if new is None:
            said = f"第{ind.id}项{'已' if starred else '未'}标记★，无需更改。"
            return Result(False, said, starred=starred)
        try:
            rt.store.assignments.set_star(ind.id, override, new, actor)
        except ConflictError:
            continue
        return Result(True, texts.star_changed(ind.id, new), starred=new)
    raise Busy(texts.BUSY)


def set_inspection(rt, day: date | None, *, actor: str) -> Result:
    """查验日期: the inspection's day, or with None back to the plan (as in chat)."""
    for _ in range(RETRIES):
        today = rt.calendar.local_today(rt.store.clock())
        try:
            change = rules.set_inspection_day(
                rt.catalog.campaign, rt.store.assignments.event_dates(), day, today
            )
        except rules.Unchanged as e:
            return Result(False, str(e))
        try:
            rt.store.assignments.set_event_date(change.key, change.expected, change.day, actor)
        except ConflictError:
            continue
        return Result(True, change.message)
    raise Busy(texts.BUSY)


# --- bindings ------------------------------------------------------------------------------


def _person(platform: str, user_id: str, name: str) -> tuple[str, str]:
    """How a person is named: in a chat notice (made inert), and on the office's page."""
    return texts.quoted(name or user_id, 32), f"「{name or user_id}」"


def unbind(rt, platform: str, user_id: str, *, actor: str) -> Result:
    """解绑 by the office: audited as 解绑 and told in the department's chat (the person
    @-mentioned), as the person's own 解绑 is."""
    for _ in range(RETRIES):
        before = rt.store.bindings.get(platform, user_id)
        if before is None:
            return Result(False, "此人已不在绑定名单中，无需解绑。")
        who, named = _person(platform, user_id, before.name)
        notice = Notice(
            f"{who} 已由依法治区办解除与{before.department}的绑定。"
            "如需重新绑定，请发送「绑定 部门名称」。",
            before.department,
            mentions=(mention(platform, user_id),),
            kind="binding",
        )
        try:
            rt.store.bindings.set(platform, user_id, before, None, actor, (notice,))
        except ConflictError:
            continue
        _drain_now(rt)
        return Result(True, f"已解除{named}与{before.department}的绑定，并已在该部门群里通知。")
    raise Busy(texts.BUSY)


def decide_binding(
    rt, platform: str, user_id: str, *, approve: bool, actor: str, reason: str = ""
) -> Result:
    """The office's answer to a 绑定 request: approved, the person is bound (audited as 绑定
    too); refused, the request is dropped. Either way the person is told, @-mentioned in the
    department's chat they asked for."""
    if reason:
        rules.check_text(reason, rules.MAX_REASON)
    for _ in range(RETRIES):
        asked, raw = rt.store.bindings.request(platform, user_id)
        if asked is None:
            return Result(False, "这条绑定申请已经处理过了。")
        dept = asked.department
        who, named = _person(platform, user_id, asked.name)
        if dept not in rt.org.departments:
            raise NotFound(texts.NO_DEPARTMENT.format(name=texts.quoted(dept, 40)))
        at = rt.store.now_iso()
        to = (mention(platform, user_id),)
        if approve:
            before = rt.store.bindings.get(platform, user_id)
            after = Binding(platform, user_id, dept, asked.name, asked.role, at)
            text = f"{who} 的绑定申请已获依法治区办同意，现为{dept}成员，可在群里提交本部门的创建材料。"
            bind, action = (before, after), "bind_approve"
            said = f"已同意{named}绑定到{dept}，并已在该部门群里通知。"
        else:
            why = f"原因：{texts.quoted(reason)}。" if reason else ""
            text = f"{who} 申请绑定为{dept}成员，依法治区办未同意。{why}如有疑问请联系依法治区办。"
            bind, action = None, "bind_refuse"
            said = f"已拒绝{named}绑定到{dept}的申请，并已在该部门群里通知。"
        notice = Notice(text, dept, mentions=to, kind="binding")
        try:
            rt.store.bindings.decide_request(
                platform, user_id, raw, None, action, actor,
                department=dept, bind=bind, note=reason, notices=(notice,),
            )  # fmt: skip
        except ConflictError:
            continue
        _drain_now(rt)
        return Result(True, said)
    raise Busy(texts.BUSY)


# --- comments ------------------------------------------------------------------------------


def comment(rt, indicator_id: int, department: str, text: str, *, actor: str) -> Result:
    """The office's comment in the department × indicator thread, pushed to the department's
    chat with how to answer (留言 in chat)."""
    ind = indicator_of(rt, indicator_id)
    _load(rt, ind, department)  # the department answers for this item
    entry = rules.comment(text, office=True, name="依法治区办")
    notice = Notice(
        with_actions(
            f"💬 依法治区办就第{ind.id}项留言：\n{texts.quoted(text)}\n"
            f"回复请发送「留言 {ind.id} 内容」，往来留言可发送「查看 {ind.id}」。",
            filllinks.door_for(rt.services, department, (ind.id,)),
        ),
        department,
        kind="review",
    )
    rt.store.comments.add(ind.id, department, entry, actor, (notice,))
    _drain_now(rt)
    return Result(True, f"留言已发到{department}的工作群（第{ind.id}项）。")

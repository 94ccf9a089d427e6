"""Summaries of folded binding notices: a person's 绑定/解绑 within Settings.binding_notice_s of an
announced one queue no notice of their own (store.bindings.set counts them); when that time
is up, each department they touched is told once how many changes there were and where the
person stands now. Run every minute by the scheduler (bot.jobs.send_folded_bindings)."""

from __future__ import annotations

from bot import texts
from bot.messages import Notice


def compose_summary(who: str, changes: int, department: str, bound_to: str) -> Notice:
    """The one notice that stands for `changes` folded binding changes of `who`."""
    now = f"现为{department}成员" if bound_to == department else f"现已不在{department}"
    return Notice(
        f"{texts.quoted(who, 32)} 在上次通知后又变更了 {changes} 次绑定，{now}。",
        department,
        kind="binding",
    )


def send_folded(rt) -> dict:
    """Queue the summary of every fold whose window has ended; returns counts."""
    items = []
    folds = rt.store.bindings.take_folds()
    for person, fold in folds:
        platform, _, user_id = person.partition(":")
        binding = rt.store.bindings.get(platform, user_id)
        bound_to = binding.department if binding else ""
        who = fold.get("name") or user_id
        changes = int(fold.get("n") or 0)
        for key in sorted(k for k in fold if k.startswith("d:")):
            department = key[2:]
            marker = f"bindfold:{person}:{fold.get('until', '')}:{department}"
            items.append((marker, compose_summary(who, changes, department, bound_to)))
    queued = rt.store.outbox.add_once(items)
    return {"folds": len(folds), "queued": queued}

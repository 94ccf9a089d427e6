"""Helpers shared by commands: resolving a department and finding its assignment, the office's
liaisons, and how binding notices are folded."""

from __future__ import annotations

from typing import Any

from bot import texts
from bot.commands import Context, UserError
from bot.org import Org
from bot.progress import Assignment


def resolve_department(ctx: Context, name: str, example: str = "{name}") -> str:
    """The one department `name` means; refuses nothing found or several (listing them)."""
    found = ctx.org.find_departments(name)
    if not found:
        raise UserError(texts.NO_DEPARTMENT.format(name=texts.quoted(name, 40)))
    if len(found) > 1:
        names = "、".join(d.name for d in found[:8])
        hint = example.format(name=found[0].name)
        quoted = texts.quoted(name, 40)
        raise UserError(texts.AMBIGUOUS_DEPARTMENT.format(name=quoted, names=names, example=hint))
    return found[0].name


def find_assignment(ctx: Context, ind, name: str) -> tuple[Assignment, str]:
    dept = resolve_department(ctx, name)
    a, raw = ctx.store.assignments.get(ind.id, dept)
    if a is None:
        raise UserError(texts.NOT_RESPONSIBLE_OF.format(dept=dept, n=ind.id))
    return a, raw


def liaisons(org: Org, store: Any, department: str) -> tuple[str, ...]:
    """The department's liaisons to @-mention (Org.liaisons over the store's bindings)."""
    return org.liaisons(store.bindings.all()).get(department, ())


def fold_window(ctx: Context) -> int:
    """Seconds in which a person's further binding changes are folded into one summary
    (Settings.binding_notice_s; bot.bindings sends the summaries)."""
    settings = ctx.services.settings
    return settings.binding_notice_s if settings is not None else 0

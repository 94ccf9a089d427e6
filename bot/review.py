"""Helpers shared by commands: resolving a department and finding its assignment, the office's
liaisons, why an approval needs a second look, and how binding notices are folded."""

from __future__ import annotations

from bot import texts
from bot.commands import Context, UserError
from bot.progress import Assignment, Status


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
    a, raw = ctx.store.assignment(ind.id, dept)
    if a is None:
        raise UserError(texts.NOT_RESPONSIBLE_OF.format(dept=dept, n=ind.id))
    return a, raw


def liaisons(ctx: Context, department: str) -> tuple[str, ...]:
    """The department's liaisons to @-mention (Org.liaisons)."""
    return ctx.org.liaisons(ctx.store.bindings()).get(department, ())


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


def fold_window(ctx: Context) -> int:
    """Seconds in which a person's further binding changes are folded into one summary
    (Settings.binding_notice_s; bot.bindings sends the summaries)."""
    settings = ctx.services.get("settings")
    return settings.binding_notice_s if settings is not None else 0

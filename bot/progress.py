"""Assignment state: the six statuses, materials, and the ranking arithmetic.

Pure values and functions; the store persists them and the handlers decide when to change them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType
from urllib.parse import unquote, urlsplit

from bot.filestore import StoredFile


class Status(StrEnum):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    NOT_APPLICABLE = "not_applicable"
    RETURNED = "returned"
    APPROVED = "approved"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]

    @property
    def is_complete(self) -> bool:
        return self in COMPLETE


STATUS_LABELS = {
    Status.TODO: "未开始",
    Status.IN_PROGRESS: "进行中",
    Status.DONE: "已完成",
    Status.NOT_APPLICABLE: "不涉及",
    Status.RETURNED: "已退回",
    Status.APPROVED: "已通过",
}
COMPLETE = frozenset({Status.DONE, Status.NOT_APPLICABLE, Status.APPROVED})


class Role(StrEnum):
    LEAD = "lead"
    COOPERATE = "cooperate"

    @property
    def label(self) -> str:
        return "牵头" if self is Role.LEAD else "配合"


SECRET_LABEL = "涉密材料，现场查阅"  # what a 涉密 material is, wherever it leaves the system


def link_name(url: str) -> str:
    """What a link submitted without a name is called until its page title is known: its host
    and path ("www.jinfeng.gov.cn/sfj/zfgs.html"), readable (percent-escapes decoded), without
    scheme, query or fragment; the address as written when it does not parse."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
    except ValueError:
        return text
    if not host:
        return text
    path = unquote(parts.path, errors="replace").rstrip("/")
    return f"{host}{path}"


@dataclass(frozen=True)
class Material:
    """A web link (url set), a stored file (`file` set: uploaded on the fill-in page or sent in
    chat) or a paper item (neither) in a department's catalogue.

    A paper item may say where it is kept (`location`, for the on-site inspection); a stored
    file's `location` is where the file store keeps it (bot.filestore.FileStore.location); a 涉密 one
    (`secret`, or any material of a 涉密 indicator) never leaves the system: files, mail and
    pushes show SECRET_LABEL and its location only.
    """

    title: str
    url: str = ""
    added_by: str = ""
    added_at: str = ""  # ISO-8601 UTC
    location: str = ""  # 存放位置 of a paper item; where the file store keeps a file
    secret: bool = False
    file: StoredFile | None = None  # a stored file: its digest, size, name and kind

    @property
    def is_link(self) -> bool:
        return bool(self.url)

    @property
    def is_file(self) -> bool:
        return self.file is not None and not self.url

    @property
    def is_paper(self) -> bool:
        return not self.url and self.file is None

    @property
    def kind_label(self) -> str:
        if self.url:
            return "网上链接"
        if self.file is not None:
            return file_label(self.file)
        return "纸质"

    @property
    def name(self) -> str:
        """The material's name wherever it is shown (chat, pages, files): its own, else for a
        link its host and path. The link check fills in a nameless link's page title as its
        own name (bot.linkcheck.fill_titles), so every place says the same."""
        return self.title or (link_name(self.url) if self.url else "")

    def is_secret_in(self, ind) -> bool:
        """涉密: marked so, or part of an indicator whose 考评要点 says 涉密."""
        return self.secret or bool(ind is not None and ind.is_secret)

    def to_dict(self) -> dict:
        d = {"title": self.title, "url": self.url, "by": self.added_by, "at": self.added_at}
        if self.location:
            d["loc"] = self.location
        if self.secret:
            d["secret"] = True
        if self.file is not None:
            d["file"] = self.file.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Material:
        return cls(
            title=d.get("title", ""),
            url=d.get("url", ""),
            added_by=d.get("by", ""),
            added_at=d.get("at", ""),
            location=d.get("loc", ""),
            secret=bool(d.get("secret", False)),
            file=StoredFile.from_dict(d["file"]) if d.get("file") else None,
        )


def file_label(f: StoredFile) -> str:
    """What a stored file is, for people: 「PDF 文件」「JPG 图片」."""
    return f.label if f.is_image else f"{f.label} 文件"


def size_text(n: int) -> str:
    """A file's size as people read it: 「356 KB」「2.4 MB」."""
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


@dataclass(frozen=True)
class TaskState:
    """What a task list shows of an assignment: its role and status (and why it was returned),
    read from the status index without decoding the assignment's materials."""

    indicator_id: int
    role: Role
    status: Status
    reason: str = ""
    rework: str = ""  # the 返工期限 of a returned item

    @property
    def is_complete(self) -> bool:
        return self.status.is_complete


@dataclass(frozen=True)
class Assignment:
    """One (indicator, department) pair with its current state."""

    indicator_id: int
    department: str
    role: Role
    status: Status = Status.TODO
    materials: tuple[Material, ...] = ()
    explanation: str = ""
    reason: str = ""  # the 退回 or 不涉及 reason
    rectification: str = ""  # 整改说明 of a ★ item
    # 返工期限 of a 退回 (ISO date, "" = none): the reminders count down to it while returned.
    rework: str = ""
    updated_by: str = ""
    updated_at: str = ""
    version: int = 0

    @property
    def is_complete(self) -> bool:
        return self.status.is_complete

    def to_json(self) -> str:
        return json.dumps(
            {
                "role": self.role.value,
                "status": self.status.value,
                "materials": [m.to_dict() for m in self.materials],
                "explanation": self.explanation,
                "reason": self.reason,
                **({"fix": self.rectification} if self.rectification else {}),
                **({"due": self.rework} if self.rework else {}),
                "by": self.updated_by,
                "at": self.updated_at,
                "v": self.version,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, indicator_id: int, department: str, raw: str | bytes) -> Assignment:
        d = json.loads(raw)
        return cls(
            indicator_id=indicator_id,
            department=department,
            role=Role(d["role"]),
            status=Status(d.get("status", "todo")),
            materials=tuple(Material.from_dict(m) for m in d.get("materials", ())),
            explanation=d.get("explanation", ""),
            reason=d.get("reason", ""),
            rectification=d.get("fix", ""),
            rework=d.get("due", ""),
            updated_by=d.get("by", ""),
            updated_at=d.get("at", ""),
            version=int(d.get("v", 0)),
        )

    def changed(self, by: str, at: str, **changes) -> Assignment:
        """A copy with changes applied, stamped with who and when, one version later. A 返工期限
        holds only while the item stays returned: any other status drops it."""
        if changes.get("status", self.status) is not Status.RETURNED:
            changes.setdefault("rework", "")
        return replace(self, updated_by=by, updated_at=at, version=self.version + 1, **changes)


def status_after_edit(
    a: Assignment,
    materials: tuple[Material, ...],
    explanation: str,
    rectification: str | None = None,  # None: unchanged
) -> Status:
    """The status an assignment takes after its materials or explanation changed.

    Returned items stay returned (the reason stays visible) until marked done again; done items
    stay done while they still hold something; an approved item becomes done again, since what the
    office accepted has changed and awaits its review anew; an emptied item is back to todo.
    """
    fix = a.rectification if rectification is None else rectification
    has_content = bool(materials or explanation or fix)
    if not has_content:
        return Status.RETURNED if a.status is Status.RETURNED else Status.TODO
    if a.status is Status.APPROVED:
        return Status.DONE
    if a.status in (Status.RETURNED, Status.DONE):
        return a.status
    return Status.IN_PROGRESS


# --- ranking -------------------------------------------------------------------------------


def assignment_weight(role: Role, starred: bool) -> int:
    """A lead assignment weighs 2, a cooperating one 1; a ★ indicator doubles it."""
    base = 2 if role is Role.LEAD else 1
    return base * 2 if starred else base


@dataclass(frozen=True)
class Score:
    department: str
    done_weight: int
    total_weight: int
    reached_at: str = ""  # when the department last changed its completed set (ISO UTC)
    done_count: int = 0
    total_count: int = 0
    by_status: tuple[int, ...] = ()  # how many assignments in each Status, in its order

    @property
    def ratio(self) -> float:
        return self.done_weight / self.total_weight if self.total_weight else 0.0

    @property
    def percent(self) -> int:
        return round(self.ratio * 100)


@dataclass(frozen=True)
class RankRow:
    rank: int
    score: Score


# Per department [done weight, total weight, done count, total count, then the count of each
# Status in its order (_AT)], computed from a read-only
# statuses mapping (the store's, see bot/store/assignments.py:_parse_statuses) for some ★ set
# and `only`. The mapping is kept referenced, so an equal identity means equal contents. The
# newest mapping's are kept, and those of the one it was derived from (see `derived`).
_LAST_ACCS: list[tuple] = []  # (statuses, starred, only, accumulators), newest first
_AT = {st: 4 + i for i, st in enumerate(Status)}  # where a status is counted in an accumulator
_ACC_SLOTS = 6
# The last mappings the store derived from the one before by a few changes, by id(new): (new
# mapping, old mapping, [((ind, dept), old (role, status) | None, new | None), ...]). Several:
# the answering consumer's lanes read and count at once.
_DERIVED: dict[int, tuple] = {}
_DERIVED_SLOTS = 8
_DERIVED_LOCK = threading.Lock()


def derived(new: Mapping, old: Mapping, changes: list) -> None:
    """The store parsed `new` as `old` with `changes`: compute_scores updates old's counts."""
    with _DERIVED_LOCK:
        _DERIVED[id(new)] = (new, old, tuple(changes))
        while len(_DERIVED) > _DERIVED_SLOTS:
            del _DERIVED[next(iter(_DERIVED))]


def compute_scores(
    statuses: Mapping[tuple[int, str], tuple[Role, Status]],
    starred: set[int] | frozenset[int],
    reached_at: dict[str, str],
    only: set[int] | frozenset[int] | None = None,
) -> list[Score]:
    """Scores per department from every assignment's (role, status); with `only`, of those
    indicators alone (Catalog.regular_ids: bonus and deduction items never count). For the
    store's read-only statuses, the counts are kept per process: the same mapping is counted
    once, and one the store derived from a counted one by a few changes is counted by those
    changes alone."""
    accs = _accumulators(statuses, frozenset(starred), only)
    return [
        Score(d, a[0], a[1], reached_at.get(d, ""), a[2], a[3], tuple(a[4:]))
        for d, a in accs.items()
    ]


def _accumulators(statuses, starred: frozenset[int], only) -> dict[str, list[int]]:
    if not isinstance(statuses, MappingProxyType):
        return _count(statuses.items(), starred, only, {})
    for seen, l_starred, l_only, accs in _LAST_ACCS:
        if seen is statuses and l_starred == starred and l_only == only:
            return accs
    accs = None
    new, old, changes = _DERIVED.get(id(statuses), (None, None, ()))
    if new is statuses:
        for seen, l_starred, l_only, base in _LAST_ACCS:
            if seen is old and l_starred == starred and l_only == only:
                accs = _apply(base, changes, starred, only)
                break
    if accs is None:
        accs = _count(statuses.items(), starred, only, {})
    # keep this mapping's counts and those of the one it came from; drop older mappings'
    keep = (statuses, old if new is statuses else statuses)
    _LAST_ACCS[:] = [e for e in _LAST_ACCS if any(e[0] is k for k in keep)]
    _LAST_ACCS.insert(0, (statuses, starred, only, accs))
    del _LAST_ACCS[_ACC_SLOTS:]
    return accs


def _count(items, starred, only, acc: dict[str, list[int]]) -> dict[str, list[int]]:
    for (ind, dept), (role, status) in items:
        if only is not None and ind not in only:
            continue
        a = acc.get(dept)
        if a is None:
            a = acc[dept] = [0] * (4 + len(_AT))
        w = assignment_weight(role, ind in starred)
        a[1] += w
        a[3] += 1
        a[_AT[status]] += 1
        if status in COMPLETE:
            a[0] += w
            a[2] += 1
    return acc


def _apply(base: dict[str, list[int]], changes, starred, only) -> dict[str, list[int]]:
    """`base`'s counts with `changes` applied (base itself is left as it is: it is shared)."""
    acc = {d: list(a) for d, a in base.items()}
    for (ind, dept), old, new in changes:
        if only is not None and ind not in only:
            continue
        if old is not None:
            a = acc[dept]
            w = assignment_weight(old[0], ind in starred)
            a[1] -= w
            a[3] -= 1
            a[_AT[old[1]]] -= 1
            if old[1] in COMPLETE:
                a[0] -= w
                a[2] -= 1
            if not a[3]:
                del acc[dept]  # no assignment left: not ranked, as a count from scratch
        if new is not None:
            _count((((ind, dept), new),), starred, None, acc)
    return acc


def bonus_contributors(
    statuses: Mapping[tuple[int, str], tuple[Role, Status]], bonus_ids: set[int] | frozenset[int]
) -> dict[str, list[int]]:
    """department -> the bonus items (加分项) it has offered something for, shown apart from
    the ranking: an opportunity taken, never a score. For the store's read-only statuses, the
    last answer is kept: 排行 asks again about the same mapping until a status changes."""
    global _LAST_BONUS
    if isinstance(statuses, MappingProxyType):
        seen, ids, out = _LAST_BONUS
        if seen is statuses and ids == bonus_ids:
            return {d: list(items) for d, items in out.items()}
        out = _bonus_contributors(statuses, bonus_ids)
        _LAST_BONUS = (statuses, frozenset(bonus_ids), out)
        return {d: list(items) for d, items in out.items()}
    return _bonus_contributors(statuses, bonus_ids)


_LAST_BONUS: tuple = (None, frozenset(), {})  # (statuses, bonus ids, the answer) of the last ask


def _bonus_contributors(statuses, bonus_ids) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    offered = [(k, st) for k, (_, st) in statuses.items() if k[0] in bonus_ids]
    for (ind, dept), status in sorted(offered):
        if status is not Status.TODO:
            out.setdefault(dept, []).append(ind)
    return out


def rank(scores: list[Score]) -> list[RankRow]:
    """Order by score, highest first; equal scores share a rank (1, 2, 2, 4: standard
    competition ranking), and among them the department that reached its score earlier is
    listed first (then by name). texts.RANKING_RULE says so wherever a ranking is shown."""

    def key(s: Score):
        # Everyone "reached" a zero score at the start, so only a non-zero score has a time.
        reached = s.reached_at if s.done_weight else ""
        # A correctly rounded quotient of small integers: equal ratios give equal floats and
        # distinct ones keep their order, as the Fraction would (without its cost per row).
        return (-(s.done_weight / s.total_weight if s.total_weight else 0.0), reached, s.department)

    rows: list[RankRow] = []
    for i, s in enumerate(sorted(scores, key=key), start=1):
        same = rows and _same_ratio(rows[-1].score, s)
        rows.append(RankRow(rows[-1].rank if same else i, s))
    return rows


def _same_ratio(a: Score, b: Score) -> bool:
    if not (a.total_weight and b.total_weight):
        return _ratio(a) == _ratio(b)
    return a.done_weight * b.total_weight == b.done_weight * a.total_weight


def _ratio(s: Score) -> Fraction:
    return Fraction(s.done_weight, s.total_weight) if s.total_weight else Fraction(0)


def sharing(rows: list[RankRow], row: RankRow) -> int:
    """How many other departments share `row`'s rank."""
    return sum(1 for r in rows if r.rank == row.rank) - 1


def overall(scores: list[Score]) -> Score:
    """The district's completion, weighted as each department's is (完成率 has one meaning)."""
    return Score(
        "",
        sum(s.done_weight for s in scores),
        sum(s.total_weight for s in scores),
        done_count=sum(s.done_count for s in scores),
        total_count=sum(s.total_count for s in scores),
    )


def starred_ids(catalog, overrides: dict[int, bool]) -> frozenset[int]:
    """The ★ indicators: the catalogue's marks with the office's toggles applied."""
    return frozenset(i for i, ind in catalog.indicators.items() if overrides.get(i, ind.star))

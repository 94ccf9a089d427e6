"""The district's organisation: departments, the table's group phrases, chats, members and admins.

Loads and validates `org.yaml`, resolves the responsibility column's unit phrases to departments
and turns the catalogue into (indicator, department) assignments.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from bot.catalog import Catalog
from bot.messages import ChatTarget, mention
from bot.platforms.registry import chat_platforms
from bot.progress import Role
from bot.yamlfields import Fields, load_yaml

MEMBER_ROLES = ("member", "liaison")
SANDBOX = "sandbox"  # the web sandbox's chat: no fields, never pushed to
_FUZZY_CUTOFF = 0.6
_EMAIL = re.compile(r"[^@\s<>,;\"]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


class OrgError(ValueError):
    """`org.yaml` is malformed, or a unit phrase names no department."""


def normalize(text: str) -> str:
    """Fold full-width forms and case so "各部门（单位）" matches "各部门(单位)"."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


@dataclass(frozen=True)
class Department:
    name: str
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    chats: tuple[ChatTarget, ...] = ()


@dataclass(frozen=True)
class Member:
    platform: str
    user_id: str
    department: str
    role: str = "member"  # member | liaison
    name: str = ""
    email: str = ""  # optional: the 报送 mail from this department is answered to it


@dataclass(frozen=True)
class Org:
    departments: dict[str, Department]  # by name, in file order
    groups: dict[str, tuple[str, ...]]  # group phrase -> tags
    members: tuple[Member, ...] = ()
    admins: frozenset[tuple[str, str]] = frozenset()  # (platform, user_id)
    admin_chats: tuple[ChatTarget, ...] = ()
    self_bind: bool = True
    _names: dict[str, str] = field(init=False, repr=False, compare=False)
    _groups: dict[str, str] = field(init=False, repr=False, compare=False)
    _chat_owner: dict[tuple[str, str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names: dict[str, str] = {}
        owners: dict[tuple[str, str], set[str]] = {}
        for dept in self.departments.values():
            for label in (dept.name, *dept.aliases):
                names.setdefault(normalize(label), dept.name)
            for chat in dept.chats:
                for key in _chat_keys(chat):
                    owners.setdefault(key, set()).add(dept.name)
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_groups", {normalize(g): g for g in self.groups})
        # A group listed under one department is that department's own; one listed under
        # several is shared, and there people still say who they are with 绑定.
        own = {k: next(iter(v)) for k, v in owners.items() if len(v) == 1}
        object.__setattr__(self, "_chat_owner", own)

    def department_of_chat(self, platform: str, chat_id: str) -> str:
        """The department whose own group this is ("" for other groups and one-to-one chats)."""
        return self._chat_owner.get((platform, chat_id), "") if chat_id else ""

    def expand(self, phrase: str) -> tuple[str, ...]:
        """The department names a unit phrase of the table stands for (a name, alias or group)."""
        key = normalize(phrase)
        if key in self._names:
            return (self._names[key],)
        if key in self._groups:
            tags = set(self.groups[self._groups[key]])
            names = tuple(d.name for d in self.departments.values() if tags.intersection(d.tags))
            if names:
                return names
        raise OrgError(f"'{phrase}' 不对应任何部门")

    def find_departments(self, text: str) -> list[Department]:
        """Departments matching what a person typed, best first.

        An exact name or alias gives that one department; otherwise names and aliases containing
        the text (or contained in it); only when there are none, difflib's close matches.
        """
        key = normalize(text)
        if not key:
            return []
        if key in self._names:
            return [self.departments[self._names[key]]]
        partial: dict[str, float] = {}
        fuzzy: dict[str, float] = {}
        for label, name in self._names.items():
            if key in label:
                score = len(key) / len(label)
            elif label in key:
                score = len(label) / len(key)
            else:
                ratio = difflib.SequenceMatcher(None, key, label).ratio()
                if ratio >= _FUZZY_CUTOFF:
                    fuzzy[name] = max(fuzzy.get(name, 0.0), ratio)
                continue
            partial[name] = max(partial.get(name, 0.0), score)
        found = partial or fuzzy
        order = {name: i for i, name in enumerate(self.departments)}
        ranked = sorted(found, key=lambda name: (-found[name], order[name]))
        return [self.departments[name] for name in ranked]

    def is_admin(self, platform: str, user_id: str) -> bool:
        return (platform, user_id) in self.admins

    def without_admins_on(self, platform: str) -> Org:
        """This organisation with nobody of `platform` acting as the office."""
        return replace(self, admins=frozenset(a for a in self.admins if a[0] != platform))

    def member(self, platform: str, user_id: str) -> Member | None:
        return next(
            (m for m in self.members if m.platform == platform and m.user_id == user_id), None
        )

    def liaisons(self, bindings: Iterable) -> dict[str, tuple[str, ...]]:
        """department -> its liaisons to @-mention, as messages.mention(platform, user id):
        members listed in org.yaml and bound users (`bindings`: the store's) with that role."""
        out: dict[str, list[str]] = {}
        for p in (*self.members, *bindings):
            if p.role == "liaison":
                out.setdefault(p.department, []).append(mention(p.platform, p.user_id))
        return {d: tuple(dict.fromkeys(ids)) for d, ids in out.items()}

    def chats_of(self, department: str) -> tuple[ChatTarget, ...]:
        dept = self.departments.get(department)
        if dept is None:
            raise OrgError(f"没有名为 '{department}' 的部门")
        return dept.chats


def chat_keys(chat: ChatTarget) -> list[tuple[str, str]]:
    """(platform, id) by which a platform's messages name this group (none for a push-only
    robot): what makes a group chat belong to a department, or to a campaign."""
    return _chat_keys(chat)


def chat_from_dict(data: Any, where: str) -> ChatTarget:
    """A chat target as org.yaml writes one (campaign.yaml's `chats` too); OrgError if not."""
    return _chat_from_dict(data, where)


def _chat_keys(chat: ChatTarget) -> list[tuple[str, str]]:
    """How a message names this group: the field its platform declares (Sender.chat_key)."""
    spec = chat_platforms().get(chat.platform)
    value = chat.get(spec.chat_key) if spec is not None and spec.chat_key else ""
    return [(chat.platform, value)] if value else []


def build_assignments(catalog: Catalog, org: Org) -> dict[tuple[int, str], Role]:
    """Every (indicator id, department) the responsibility column reaches, with its role.

    A department named both as lead and as cooperating on one indicator leads it.
    """
    out: dict[tuple[int, str], Role] = {}
    for ind_id in catalog.ids:
        ind = catalog.indicators[ind_id]
        for phrases, role in ((ind.lead, Role.LEAD), (ind.cooperate, Role.COOPERATE)):
            for phrase in phrases:
                try:
                    names = org.expand(phrase)
                except OrgError:
                    raise OrgError(f"指标 {ind_id}: 责任单位 '{phrase}' 不对应任何部门") from None
                for name in names:
                    if out.get((ind_id, name)) is not Role.LEAD:
                        out[(ind_id, name)] = role
    return out


# ---------------------------------------------------------------------------------------------
# Loading and validation


class _Fields(Fields):
    """org.yaml's mappings: failures are OrgErrors."""

    error = OrgError

    def text(self, field_name: str, *, required: bool = True, default: str = "") -> str:
        if field_name not in self.data or self.data[field_name] is None:
            if required:
                raise self.fail(field_name, "is missing")
            return default
        v = self.data[field_name]
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)  # YAML reads user ids like 12345 as numbers
        if not isinstance(v, str) or (required and not v.strip()):
            raise self.fail(field_name, "must be a non-empty string")
        return v.strip()

    def text_list(self, field_name: str) -> tuple[str, ...]:
        v = self.data.get(field_name)
        if v is None:
            return ()
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            raise self.fail(field_name, "must be a list of non-empty strings")
        return tuple(x.strip() for x in v)

    def items(self, field_name: str) -> list[Any]:
        v = self.data.get(field_name)
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.fail(field_name, "must be a list")
        return v


def _chat_from_dict(data: Any, where: str) -> ChatTarget:
    """A chat: `platform` and the fields that platform declares (Sender.chat_fields), at
    least one of its address fields set."""
    f = _Fields(data, where, list(data) if isinstance(data, dict) else ())
    platform = f.text("platform")
    senders = chat_platforms()
    if platform != SANDBOX and platform not in senders:
        known = ", ".join([*senders, SANDBOX])
        raise f.fail("platform", f"must be one of {known}, not {platform!r}")
    spec = senders.get(platform)
    own = spec.chat_fields if spec is not None else ()
    f = _Fields(data, where, ("platform", *own))
    values = {k: f.text(k, required=False) for k in own}
    address = spec.address if spec is not None else ()
    if address and not any(values[k] for k in address):
        others = " or ".join(repr(k) for k in address[1:])
        raise f.fail(address[0], f"or {others} is required for {platform}" if others
                     else f"is required for {platform}")  # fmt: skip
    return ChatTarget(platform, values)


def _chats(f: _Fields, field_name: str) -> tuple[ChatTarget, ...]:
    return tuple(
        _chat_from_dict(item, f"{f.where}: {field_name}[{i}]")
        for i, item in enumerate(f.items(field_name))
    )


def org_from_dict(data: Any, source: str = "org.yaml") -> Org:
    """Validate the parsed YAML document; `source` prefixes every error message."""
    top = _Fields(
        data, source, ("departments", "groups", "members", "admins", "admin_chats", "policy")
    )
    raw_departments = top.items("departments")
    if not raw_departments:
        raise top.fail("departments", "must be a non-empty list")

    departments: dict[str, Department] = {}
    labels: dict[str, str] = {}  # normalised name or alias -> department
    for i, item in enumerate(raw_departments):
        name = item.get("name") if isinstance(item, Mapping) else None
        where = f"{source}: 部门 {name}" if isinstance(name, str) else f"{source}: departments[{i}]"
        f = _Fields(item, where, ("name", "aliases", "tags", "chats"))
        dept = Department(
            name=f.text("name"),
            aliases=f.text_list("aliases"),
            tags=f.text_list("tags"),
            chats=_chats(f, "chats"),
        )
        if not dept.tags:
            raise f.fail("tags", "must be a non-empty list of strings")
        for label in (dept.name, *dept.aliases):
            owner = labels.get(normalize(label))
            if owner is not None:
                problem = f"repeats '{label}', already used by 部门 {owner}"
                raise f.fail("name" if label == dept.name else "aliases", problem)
            labels[normalize(label)] = dept.name
        departments[dept.name] = dept

    raw_groups = top.data.get("groups") or {}
    if not isinstance(raw_groups, Mapping):
        raise top.fail("groups", "must be a mapping of phrase to tags")
    all_tags = {t for d in departments.values() for t in d.tags}
    groups: dict[str, tuple[str, ...]] = {}
    for phrase, tags in raw_groups.items():
        g = _Fields({"tags": tags}, f"{source}: groups: {phrase}", ("tags",))
        if not isinstance(phrase, str) or not phrase.strip():
            raise OrgError(f"{source}: groups: every phrase must be a non-empty string")
        if normalize(phrase) in labels:
            raise g.fail("tags", f"cannot be set: '{phrase}' is already a department name")
        group_tags = g.text_list("tags")
        if not group_tags:
            raise g.fail("tags", "must be a non-empty list of strings")
        if not all_tags.intersection(group_tags):
            raise g.fail("tags", f"{list(group_tags)} are carried by no department")
        groups[phrase.strip()] = group_tags

    members: list[Member] = []
    for i, item in enumerate(top.items("members")):
        f = _Fields(
            item,
            f"{source}: members[{i}]",
            ("platform", "user_id", "department", "role", "name", "email"),
        )
        member = Member(
            platform=f.text("platform"),
            user_id=f.text("user_id"),
            department=f.text("department"),
            role=f.text("role", required=False, default="member"),
            name=f.text("name", required=False),
            email=f.text("email", required=False),
        )
        if member.email and not _EMAIL.fullmatch(member.email):
            raise f.fail("email", f"is not an e-mail address: {member.email!r}")
        if member.department not in departments:
            raise f.fail("department", f"names no department: '{member.department}'")
        if member.role not in MEMBER_ROLES:
            raise f.fail("role", f"must be one of {', '.join(MEMBER_ROLES)}, not {member.role!r}")
        if any((m.platform, m.user_id) == (member.platform, member.user_id) for m in members):
            raise f.fail("user_id", f"{member.user_id!r} is listed twice")
        members.append(member)

    admins = set()
    for i, item in enumerate(top.items("admins")):
        f = _Fields(item, f"{source}: admins[{i}]", ("platform", "user_id", "name"))
        admins.add((f.text("platform"), f.text("user_id")))

    policy = _Fields(top.data.get("policy") or {}, f"{source}: policy", ("self_bind",))
    self_bind = policy.data.get("self_bind", True)
    if not isinstance(self_bind, bool):
        raise policy.fail("self_bind", "must be true or false")

    return Org(
        departments=departments,
        groups=groups,
        members=tuple(members),
        admins=frozenset(admins),
        admin_chats=_chats(top, "admin_chats"),
        self_bind=self_bind,
    )


def load_org(path: str | Path) -> Org:
    """Read and validate `org.yaml`; raise OrgError naming the department and field."""
    p = Path(path)
    try:
        data = load_yaml(p)  # mappings keep their lines for the errors
    except yaml.YAMLError as e:
        raise OrgError(f"{p.name}: not valid YAML: {e}") from e
    return org_from_dict(data, p.name)

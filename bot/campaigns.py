"""The campaigns of one deployment: which there are, what each is made of, and which one a
message belongs to.

The top-level `indicators.yaml` + `org.yaml` are the default campaign (`DUBAN_CAMPAIGN`,
"default"), so a deployment of one campaign looks as it always did. Every folder
`<DUBAN_CAMPAIGNS_DIR>/<id>/` adds one:

    campaign.yaml     title, archived (read-only, still exported), chats (group chats that
                      belong to it besides its roster's), admins, submit_to, demo
    indicators.yaml   its table (bot/catalog.py)
    org.yaml          optional: its own roster (bot/org.py); else the top-level one

`load_specs` reads the folders, `load_campaign` a campaign's table and roster; a broken one
raises CampaignError naming the campaign, the file and the row, and start-up stops there (no
campaign is ever left out silently). `Router` decides which campaign a message acts on: a
group chat belongs to exactly one campaign; in a one-to-one chat, the campaign the person is
bound in, the one they chose with 切换, or a short numbered question when that is not clear.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from bot.catalog import Catalog, CatalogError, load_catalog
from bot.messages import ChatTarget, Incoming, Reply
from bot.org import Org, OrgError, build_assignments, chat_from_dict, chat_keys, load_org
from bot.progress import Role
from bot.yamlfields import Fields, load_yaml

CAMPAIGN_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
# The admin pages' own first path segments (/admin/<word>/…): a campaign of that id would be
# hidden behind the page (/admin/<campaign>/… is the campaign's). tests/http/test_campaign_web.py
# checks that every admin page's segment is listed.
RESERVED_IDS = frozenset(
    {"audit", "bindings", "campaigns", "deliveries", "departments", "exports", "files",
     "indicators", "inspect", "inspection", "jobs", "login", "logout", "matrix", "rank",
     "rectification", "remind", "review", "static", "submissions", "api", "m", "sandbox"}
)  # fmt: skip
CAMPAIGN_FILE = "campaign.yaml"
SWITCH = "切换"  # the command that picks the campaign of a one-to-one chat (handlers/switch.py)


class CampaignError(ValueError):
    """A campaign that cannot be loaded: `campaign` (its id), `path` (the file) and `cause`
    (the loader's error, with its line where known) say where and what."""

    def __init__(self, campaign: str, path: Path | None, message: str, cause: Exception | None):
        super().__init__(message)
        self.campaign, self.path, self.cause = campaign, path, cause


class _SpecError(ValueError):
    """campaign.yaml's own field problems (then wrapped in a CampaignError)."""


class _Fields(Fields):
    error = _SpecError


@dataclass(frozen=True)
class CampaignSpec:
    """One campaign of the deployment: where its data lives and how it is run."""

    id: str
    title: str
    indicators_path: str
    org_path: str
    archived: bool = False
    chats: tuple[ChatTarget, ...] = ()  # group chats that belong to it besides its roster's
    admins: frozenset[tuple[str, str]] = frozenset()  # (platform, user id): its office too
    submit_to: str = ""  # "" = the table's own campaign.submit_to
    demo: bool = False  # loaded only in demo mode (DUBAN_DEMO=1): shipped demo data
    folder: str = ""  # "" for the default campaign (the top-level files)
    # the setting holding this campaign's own office password (DUBAN_ADMIN_PASSWORD_<NAME>):
    # a login with it opens this campaign only (bot/web/admin.py); "" = none
    admin_password_env: str = ""

    @property
    def active(self) -> bool:
        return not self.archived


@dataclass(frozen=True)
class Loaded:
    """A campaign's data, read and checked."""

    spec: CampaignSpec
    catalog: Catalog
    org: Org
    assignments: dict[tuple[int, str], Role]


def default_spec(settings) -> CampaignSpec:
    return CampaignSpec(
        settings.campaign, "", settings.indicators_path, settings.org_path, folder=""
    )


def load_specs(settings) -> list[CampaignSpec]:
    """The default campaign first, then one per folder of DUBAN_CAMPAIGNS_DIR (by id). A
    folder whose campaign.yaml is broken raises CampaignError; demo-only campaigns are left
    out unless DUBAN_DEMO is on."""
    specs = [default_spec(settings)]
    root = Path(settings.campaigns_dir) if settings.campaigns_dir else None
    if root is None or not root.is_dir():
        return specs
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        spec = read_spec(folder)
        if spec.demo and not settings.demo:
            continue
        if spec.id == settings.campaign:
            raise CampaignError(
                spec.id, folder / CAMPAIGN_FILE,
                f"督办活动「{spec.id}」与默认活动（DUBAN_CAMPAIGN）同名，请给文件夹换一个编号。",
                None,
            )  # fmt: skip
        specs.append(spec)
    return specs


def read_spec(folder: Path) -> CampaignSpec:
    """`<folder>/campaign.yaml` as a CampaignSpec; CampaignError when it is broken."""
    cid = folder.name
    if not CAMPAIGN_ID.fullmatch(cid):
        raise CampaignError(
            cid, folder,
            f"督办活动文件夹名「{cid}」不能作为编号：只能用小写字母、数字和「-」，"
            "以字母或数字开头，最多 40 个字符。",
            None,
        )  # fmt: skip
    if cid in RESERVED_IDS:
        raise CampaignError(
            cid, folder,
            f"督办活动文件夹名「{cid}」与管理页面的地址重名，请换一个编号（如 {cid}-2021）。",
            None,
        )  # fmt: skip
    path = folder / CAMPAIGN_FILE
    try:
        data = load_yaml(path)
        f = _Fields(
            data, CAMPAIGN_FILE,
            ("title", "archived", "chats", "admins", "submit_to", "demo", "org",
             "admin_password_env"),
        )  # fmt: skip
        title = _text(f, "title")
        chats = tuple(
            chat_from_dict(item, f"{CAMPAIGN_FILE}: chats[{i}]")
            for i, item in enumerate(_list(f, "chats"))
        )
        admins = frozenset(_admin(item, i) for i, item in enumerate(_list(f, "admins")))
        archived, demo = _flag(f, "archived"), _flag(f, "demo")
        submit_to = _text(f, "submit_to", required=False)
        password_env = _text(f, "admin_password_env", required=False)
        if password_env and not re.fullmatch(r"DUBAN_ADMIN_PASSWORD_[A-Z0-9_]+", password_env):
            raise _SpecError(
                f"admin_password_env 应形如 DUBAN_ADMIN_PASSWORD_<名称>（大写字母、数字、_），"
                f"不是「{password_env}」"
            )
    except (OSError, UnicodeDecodeError, yaml.YAMLError, _SpecError, OrgError) as e:
        raise CampaignError(cid, path, f"督办活动「{cid}」的 {CAMPAIGN_FILE} 有误：{e}", e) from e
    org_path = folder / "org.yaml"
    return CampaignSpec(
        id=cid,
        title=title,
        indicators_path=str(folder / "indicators.yaml"),
        org_path=str(org_path) if org_path.exists() else "",
        archived=archived,
        chats=chats,
        admins=admins,
        submit_to=submit_to,
        demo=demo,
        folder=str(folder),
        admin_password_env=password_env,
    )


def _text(f: _Fields, name: str, required: bool = True) -> str:
    v = f.data.get(name)
    if v is None and not required:
        return ""
    if not isinstance(v, str) or not v.strip():
        raise f.fail(name, "must be a non-empty string")
    return v.strip()


def _flag(f: _Fields, name: str) -> bool:
    v = f.data.get(name, False)
    if not isinstance(v, bool):
        raise f.fail(name, "must be true or false")
    return v


def _list(f: _Fields, name: str) -> list[Any]:
    v = f.data.get(name)
    if v is None:
        return []
    if not isinstance(v, list):
        raise f.fail(name, "must be a list")
    return v


def _admin(item: Any, i: int) -> tuple[str, str]:
    f = _Fields(item, f"{CAMPAIGN_FILE}: admins[{i}]", ("platform", "user_id"))
    user = f.data.get("user_id")
    if isinstance(user, int) and not isinstance(user, bool):
        user = str(user)  # YAML reads ids like 12345 as numbers
    if not isinstance(user, str) or not user.strip():
        raise f.fail("user_id", "must be a non-empty string")
    return _text(f, "platform"), user.strip()


def load_campaign(spec: CampaignSpec, shared_org: str) -> Loaded:
    """The campaign's table and roster, checked against each other. CampaignError names the
    campaign and the file (the loader's error keeps its line)."""
    org_path = spec.org_path or shared_org
    try:
        catalog = load_catalog(spec.indicators_path)
    except (OSError, UnicodeDecodeError, CatalogError) as e:
        raise _wrapped(spec, spec.indicators_path, e) from e
    try:
        org = load_org(org_path)
    except (OSError, UnicodeDecodeError, OrgError) as e:
        raise _wrapped(spec, org_path, e) from e
    if spec.admins:
        org = replace(org, admins=org.admins | spec.admins)
    try:
        assignments = build_assignments(catalog, org)
    except OrgError as e:
        raise CampaignError(
            spec.id, Path(org_path),
            f"{_name(spec)}：{Path(org_path).name} 与 {Path(spec.indicators_path).name} 不一致："
            f"{e}（请在 org.yaml 的部门或 groups 中补上）",
            e,
        ) from e  # fmt: skip
    if spec.submit_to:
        catalog = catalog.with_campaign(replace(catalog.campaign, submit_to=spec.submit_to))
    return Loaded(spec, catalog, org, assignments)


def _name(spec: CampaignSpec) -> str:
    return f"督办活动「{spec.id}」" + (f"（{spec.title}）" if spec.title else "")


def _wrapped(spec: CampaignSpec, path: str, e: Exception) -> CampaignError:
    line = getattr(e, "line", None)
    where = f"{Path(path).name} 第 {line} 行" if line else Path(path).name
    return CampaignError(spec.id, Path(path), f"{_name(spec)}：{where}：{e}", e)


def load_all(settings) -> list[Loaded]:
    """Every campaign's data, default first; CampaignError at the first broken one, and when
    one group chat is claimed by two campaigns."""
    loaded = [load_campaign(s, settings.org_path) for s in load_specs(settings)]
    chat_campaigns(loaded)
    return loaded


def campaign_chats(item: Loaded) -> list[tuple[str, str]]:
    """(platform, chat id) of every group chat that belongs to the campaign: its departments'
    and its office's chats, and campaign.yaml's `chats`."""
    org = item.org
    targets = [c for d in org.departments.values() for c in d.chats]
    targets += [*org.admin_chats, *item.spec.chats]
    return list(dict.fromkeys(k for t in targets for k in chat_keys(t)))


def chat_campaigns(loaded: Sequence[Loaded]) -> dict[tuple[str, str], str]:
    """(platform, chat id) -> the campaign it belongs to; CampaignError when one chat is in two
    campaigns (a message there could not tell which campaign it acts on)."""
    out: dict[tuple[str, str], str] = {}
    for item in loaded:
        for key in campaign_chats(item):
            other = out.get(key)
            if other is not None and other != item.spec.id:
                raise CampaignError(
                    item.spec.id, None,
                    f"群聊 {key[0]}:{key[1]} 同时登记在督办活动「{other}」和「{item.spec.id}」中；"
                    "一个群只能属于一个督办活动，请从其中一个的 org.yaml 或 campaign.yaml 中删去。",
                    None,
                )  # fmt: skip
            out[key] = item.spec.id
    return out


# --- which campaign a message acts on ------------------------------------------------------


NO_CAMPAIGN = (
    "本群还没有归属任何督办活动，机器人无法办理。请依法治区办在该活动的 org.yaml（部门的 chats 或 "
    "admin_chats）或 campaigns/<编号>/campaign.yaml 的 chats 中登记本群（平台 {platform}，"
    "群 ID {chat}），重启后即可使用。"
)
ASK = "您在以下督办活动中都有绑定，请先选择要办理的活动：\n{items}\n请回复「切换 编号」，例如「切换 1」。以后可随时再「切换」。"
SWITCHED = "已切换到「{title}」。之后在私聊中的命令都按该活动办理；再次「切换」可改选。"
SWITCH_LIST = (
    "当前：「{current}」。可切换的督办活动：\n{items}\n请回复「切换 编号」或「切换 名称」。"
)
SWITCH_UNKNOWN = "没有编号或名称为「{which}」的督办活动。可切换的有：\n{items}"
SWITCH_IN_GROUP = "本群属于「{title}」，群聊中不能切换。请在与机器人的私聊中发送「切换」。"
ARCHIVED = "「{title}」已归档，只能查看和导出，不能再修改。"


@dataclass
class Campaigns:
    """What the router knows of each campaign: its spec, title, roster, the binding lookup and
    the dispatcher that runs its commands. `choices` reads and writes a person's remembered
    choice (store.bindings.campaign_choice of the deployment's store)."""

    specs: dict[str, CampaignSpec]  # default first
    titles: dict[str, str]
    orgs: dict[str, Org]
    chats: Mapping[tuple[str, str], str]
    bound: dict[str, Callable[[str, str], Any]]  # cid -> (platform, user) -> Binding | None
    dispatchers: dict[str, Any] = field(default_factory=dict)
    choice: Callable[..., str] | None = None  # (platform, user, choose=None) -> campaign id

    @property
    def default(self) -> str:
        return next(iter(self.specs))

    def title(self, cid: str) -> str:
        return self.titles.get(cid) or cid

    def numbered(self, ids: Sequence[str]) -> str:
        return "\n".join(
            f"{n}. {self.title(c)}" + ("（已归档）" if self.specs[c].archived else "")
            for n, c in enumerate(ids, start=1)
        )

    def of_person(self, platform: str, user_id: str) -> list[str]:
        """The campaigns a person acts in: bound there, or the office there."""
        return [
            cid
            for cid in self.specs
            if self.orgs[cid].is_admin(platform, user_id) or self.bound[cid](platform, user_id)
        ]

    def switchable(self, platform: str, user_id: str) -> list[str]:
        """The choices 切换 offers: where the person acts, then every other active campaign."""
        mine = self.of_person(platform, user_id)
        return mine + [c for c, s in self.specs.items() if c not in mine and s.active]

    def route(self, msg: Incoming) -> str | Reply:
        """The campaign `msg` acts on, or the reply that asks or explains instead."""
        if len(self.specs) == 1:
            return self.default
        if msg.is_group:
            cid = self.chats.get((msg.platform, msg.chat_id))
            if cid is not None:
                return cid
            if _is_switch(msg.text):
                return self.default  # 切换 explains itself
            if not msg.mentioned:
                return Reply.quiet()
            return Reply(NO_CAMPAIGN.format(platform=msg.platform, chat=msg.chat_id or "未知"))
        mine = self.of_person(msg.platform, msg.user_id)
        chosen = self.choice(msg.platform, msg.user_id) if self.choice else ""
        if chosen in self.specs and (chosen in mine or self.specs[chosen].active):
            return chosen
        if len(mine) == 1:
            return mine[0]
        if not mine or _is_switch(msg.text):
            return self.default
        number = _bare_number(msg.text)
        if number is not None and 1 <= number <= len(mine):
            return self.switch(msg, str(number))
        return Reply(ASK.format(items=self.numbered(mine)))

    def switch(self, msg: Incoming, which: str) -> Reply:
        """切换 [编号或名称]: remember the person's choice; without one, list the choices."""
        if msg.is_group and len(self.specs) > 1:
            cid = self.chats.get((msg.platform, msg.chat_id), self.default)
            return Reply(SWITCH_IN_GROUP.format(title=self.title(cid)))
        ids = self.switchable(msg.platform, msg.user_id)
        which = which.strip()
        if not which:
            current = self.route_quietly(msg)
            return Reply(SWITCH_LIST.format(current=self.title(current), items=self.numbered(ids)))
        pick = None
        if which.isdigit() and 1 <= int(which) <= len(ids):
            pick = ids[int(which) - 1]
        else:
            pick = next((c for c in ids if which in (c, self.title(c))), None)
        if pick is None:
            return Reply(SWITCH_UNKNOWN.format(which=which, items=self.numbered(ids)), refused=True)
        if self.choice:
            self.choice(msg.platform, msg.user_id, pick)
        return Reply(SWITCHED.format(title=self.title(pick)))

    def route_quietly(self, msg: Incoming) -> str:
        out = self.route(msg)
        return out if isinstance(out, str) else self.default


def _is_switch(text: str) -> bool:
    from bot.commands import normalize

    return normalize(text).startswith(SWITCH)


def _bare_number(text: str) -> int | None:
    from bot.commands import normalize

    t = normalize(text)
    return int(t) if t.isdigit() and len(t) <= 2 else None

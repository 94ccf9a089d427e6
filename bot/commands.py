"""The command core: normalise -> match -> parse typed arguments -> preload -> handle.

Handlers register themselves with `@command(...)`; the first docstring line is the usage shown by
帮助. The core never imports Flask, Redis or a platform module; the store arrives through Context.
"""

from __future__ import annotations

import difflib
import importlib
import json
import logging
import pkgutil
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from bot import texts
from bot.catalog import Catalog, Indicator
from bot.messages import Incoming, Notice, Reply
from bot.org import Org
from bot.progress import Assignment
from bot.records import Change, ConflictError, Finish

log = logging.getLogger(__name__)


class UserError(Exception):
    """An expected refusal; its text is shown to the user as it is (Chinese, says what to type)."""


class Unfinished(Exception):
    """A platform callback whose change could not be saved (the store failed after its message
    id was claimed). The claim was released: the caller must not acknowledge the callback, so
    that the platform's redelivery, or the next drain of the inbox, runs the command."""


# --- normalising ---------------------------------------------------------------------------

_MENTION = re.compile(r"^(?:@\S+\s+)+")
_SPACES = re.compile(r"[\s\u3000]+")


def normalize(text: str) -> str:
    """NFKC (full-width -> half-width), leading @mentions removed, whitespace collapsed."""
    t = unicodedata.normalize("NFKC", text or "").strip()
    t = _MENTION.sub("", t + " ").strip() if t.startswith("@") else t
    return _SPACES.sub(" ", t).strip()


# Separators allowed between arguments (after NFKC: ASCII comma, colon, semicolon; plus 、。).
_SEP = " ,;:、。，；："
# What may close a command without being part of it: "进度?", "我的任务。"
_CLOSING = _SEP + "?!.~…"
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6}
_CN_DIGITS |= {"七": 7, "八": 8, "九": 9}


def chinese_number(s: str) -> int | None:
    """十二 -> 12, 九十九 -> 99, 一百零五 -> 105, 二〇 -> 20; None when not a number."""
    if not s:
        return None
    if all(c in _CN_DIGITS for c in s):
        return int("".join(str(_CN_DIGITS[c]) for c in s))
    total, current = 0, 0
    for c in s:
        if c in _CN_DIGITS:
            current = _CN_DIGITS[c]
        elif c == "十":
            total += (current or 1) * 10
            current = 0
        elif c == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


_IND = re.compile(r"^(?:第\s*)?#?\s*(\d+|[零〇一二两三四五六七八九十百]+)\s*(?:项|号|条)?")


def split_token(rest: str) -> tuple[str, str]:
    rest = rest.lstrip(_SEP)
    m = re.match(r"[^ ,;:、。]+", rest)
    if not m:
        return "", ""
    return m.group(0), rest[m.end() :].lstrip(_SEP)


# --- parameters ----------------------------------------------------------------------------


class Param(Protocol):
    name: str

    def parse(self, rest: str, catalog: Catalog) -> tuple[Any, str]: ...


@dataclass(frozen=True)
class IndicatorParam:
    """An indicator number: 12, 第12项, #12, 12号, １２, 十二."""

    name: str = "indicator"

    def parse(self, rest: str, catalog: Catalog) -> tuple[Indicator, str]:
        rest = rest.lstrip(_SEP)
        m = _IND.match(rest)
        n = None
        if m and (m.group(1).isdigit() or _ends_word(rest, m)):
            g = m.group(1)
            n = int(g) if g.isdigit() else chinese_number(g)
        if n is None:
            raise UserError(texts.NEED_INDICATOR.format(lo=catalog.min_id, hi=catalog.max_id))
        ind = catalog.get(n)
        if ind is None:
            raise UserError(
                texts.NO_SUCH_INDICATOR.format(n=n, lo=catalog.min_id, hi=catalog.max_id)
            )
        return ind, rest[m.end() :].lstrip(_SEP)


def _ends_word(rest: str, m: re.Match) -> bool:
    """A number in Chinese numerals is one only where it ends: 「十二」「第一项」, but not the 一 of
    「一下」 (「说明一下情况」 is not 说明 for indicator 1)."""
    return m.group(0)[-1] in "项号条" or rest[m.end(1) : m.end(1) + 1] in ("", *_SEP)


@dataclass(frozen=True)
class IntParam:
    name: str
    missing: str  # the error text when absent

    def parse(self, rest: str, catalog: Catalog) -> tuple[int, str]:
        tok, after = split_token(rest)
        m = re.fullmatch(r"(?:第)?(\d+|[零〇一二两三四五六七八九十百]+)(?:个|项|号|条)?", tok)
        n = None
        if m:
            g = m.group(1)
            n = int(g) if g.isdigit() else chinese_number(g)
        if n is None:
            raise UserError(self.missing)
        return n, after


@dataclass(frozen=True)
class TokenParam:
    """One word (up to the next space or separator)."""

    name: str
    missing: str = ""  # error text when absent; "" = optional

    def parse(self, rest: str, catalog: Catalog) -> tuple[str, str]:
        tok, after = split_token(rest)
        if not tok and self.missing:
            raise UserError(self.missing)
        return tok, after


@dataclass(frozen=True)
class ChoiceParam:
    """One word out of a fixed set, or nothing."""

    name: str
    choices: tuple[str, ...]
    wrong: str  # the error text for any other word

    def parse(self, rest: str, catalog: Catalog) -> tuple[str, str]:
        tok, after = split_token(rest)
        if tok and tok not in self.choices:
            raise UserError(self.wrong)
        return tok, after


@dataclass(frozen=True)
class TextParam:
    """The rest of the message, as typed."""

    name: str
    missing: str = ""
    max_len: int = 2000

    def parse(self, rest: str, catalog: Catalog) -> tuple[str, str]:
        t = rest.lstrip(_SEP).strip()  # keep the user's closing punctuation
        if not t and self.missing:
            raise UserError(self.missing)
        if len(t) > self.max_len:
            raise UserError(texts.TOO_LONG.format(n=self.max_len))
        return t, ""


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"'，。；、]+")
_BARE = re.compile(
    r"(?i)\b(?:www\.[^\s]+|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:gov\.cn|com|cn|net|org)\S*)"
)


@dataclass(frozen=True)
class LinksParam:
    """One or more http(s) links anywhere in the rest; what is left over is the name."""

    name: str = "links"

    def parse(self, rest: str, catalog: Catalog) -> tuple[tuple[tuple[str, ...], str], str]:
        urls = []
        for m in _URL.finditer(rest):
            u = m.group(0).rstrip(".,;:)]}")
            parts = urlsplit(u)
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                raise UserError(texts.BAD_URL.format(url=texts.quoted(u[:80])))
            if len(u) > 2000:
                raise UserError(texts.BAD_URL.format(url=texts.quoted(u[:80])))
            urls.append(u)
        leftover = _URL.sub(" ", rest)
        if not urls:
            bare = _BARE.search(leftover)
            raise UserError(
                texts.BAD_URL.format(url=texts.quoted(bare.group(0)[:80]))
                if bare
                else texts.NEED_URL
            )
        name = _SPACES.sub(" ", leftover).strip(_SEP + " ")
        if len(name) > 200:
            raise UserError(texts.TOO_LONG.format(n=200))
        # keep order, drop repeats within the message
        return (tuple(dict.fromkeys(urls)), name), ""


# --- the registry ---------------------------------------------------------------------------

Handler = Callable[..., Reply]


@dataclass(frozen=True)
class Command:
    keyword: str
    aliases: tuple[str, ...]
    params: tuple[Param, ...]
    func: Handler
    admin: bool
    needs_binding: bool
    preload: str  # "one" | "all" | "states" | "none" (see RedisStore.preload)

    @property
    def usage(self) -> str:
        doc = (self.func.__doc__ or "").strip().splitlines()
        return doc[0].strip() if doc else self.keyword

    @property
    def details(self) -> str:
        doc = (self.func.__doc__ or "").strip().splitlines()
        return "\n".join(line.strip() for line in doc[1:]).strip()

    def parse(self, rest: str, catalog: Catalog) -> list[Any]:
        """The typed arguments; text left over after them is refused, not ignored: 「完成 12 13」
        does not quietly complete 12 alone, and 「解绑 是什么意思」 does not unbind."""
        values = []
        for p in self.params:
            v, rest = p.parse(rest, catalog)
            values.append(v)
        extra = rest.strip(_CLOSING)
        if extra:
            raise UserError(texts.EXTRA_TEXT.format(extra=texts.quoted(extra, 20)))
        return values


class Registry:
    """Keyword -> Command; duplicate keywords fail at import."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self._by_word: dict[str, Command] = {}

    def add(self, cmd: Command) -> None:
        for w in (cmd.keyword, *cmd.aliases):
            w = normalize(w).lower()
            if w in self._by_word:
                raise ValueError(f"duplicate command keyword {w!r}")
            self._by_word[w] = cmd
        self.commands.append(cmd)

    def words(self) -> list[str]:
        return list(self._by_word)

    def get(self, word: str) -> Command | None:
        return self._by_word.get(normalize(word).lower())

    def match(self, text: str) -> tuple[Command, str] | None:
        """Longest keyword that starts the text; latin keywords need a word boundary."""
        low = text.lower()
        for w in sorted(self._by_word, key=len, reverse=True):
            if low.startswith(w):
                rest = text[len(w) :]
                if w.isascii() and w.isalpha() and rest[:1].isalnum():
                    continue
                return self._by_word[w], rest
        return None

    def suggest(self, text: str) -> list[str]:
        head = text.split(" ")[0][:6]
        words = [c.keyword for c in self.commands]
        near = difflib.get_close_matches(head, words, n=3, cutoff=0.3)
        if not near:
            near = [w for w in words if w[0] == head[:1]][:3]
        return near


REGISTRY = Registry()


def command(
    keyword: str,
    *params: Param,
    aliases: tuple[str, ...] = (),
    admin: bool = False,
    needs_binding: bool = True,
    preload: str = "none",
    registry: Registry | None = None,
) -> Callable[[Handler], Handler]:
    """Register a chat command: `@command("完成", IndicatorParam(), preload="one")`."""

    def deco(func: Handler) -> Handler:
        (registry or REGISTRY).add(
            Command(keyword, aliases, params, func, admin, needs_binding, preload)
        )
        return func

    return deco


def load_handlers() -> Registry:
    """Import every module of the handlers package (each registers its command once)."""
    import handlers

    for mod in pkgutil.iter_modules(handlers.__path__):
        importlib.import_module(f"handlers.{mod.name}")
    return REGISTRY


# --- context and dispatch -------------------------------------------------------------------


@dataclass
class Context:
    """Everything a handler may use. `store` is the RedisStore (duck-typed here)."""

    msg: Incoming
    catalog: Catalog
    org: Org
    store: Any
    registry: Registry
    now: datetime
    is_admin: bool
    preload: Any  # bot.store.Preload
    calendar: Any = None  # bot.workdays.WorkCalendar
    services: dict[str, Any] = field(default_factory=dict)
    pending: Change | None = None  # the command's change, saved by the dispatcher after it

    @property
    def actor(self) -> str:
        return f"{self.msg.platform}:{self.msg.user_id}"

    @property
    def our_group(self) -> str:
        """Where the department's pushes arrive, as the sender sees it: this group, or (from a
        one-to-one chat) the department's group."""
        return "本群" if self.msg.is_group else "本部门工作群"

    @property
    def binding(self):
        return self.preload.binding

    @property
    def department(self) -> str | None:
        b = self.preload.binding
        return b.department if b else None

    def require_department(self) -> str:
        if not self.department:
            raise UserError(texts.NOT_BOUND)
        return self.department

    def starred(self, ind: Indicator) -> bool:
        return self.preload.star_overrides.get(ind.id, ind.star)

    def own(self, ind: Indicator) -> tuple[Assignment, str]:
        """Our department's assignment for `ind` and its stored JSON; refuses a foreign one."""
        dept = self.require_department()
        a = self.preload.assignments.get(ind.id)
        if a is None:
            raise UserError(texts.NOT_RESPONSIBLE.format(dept=dept, n=ind.id))
        return a, self.preload.raw[ind.id]

    def now_iso(self) -> str:
        return self.store.now_iso()

    def commit(
        self,
        before: Assignment,
        before_raw: str,
        after: Assignment,
        action: str,
        *,
        notices: tuple[Notice, ...] = (),
        link_urls: tuple[str, ...] = (),
        note: str = "",
        undo: str = "push",
    ) -> None:
        """Stage the command's one assignment change, with its audit entry; undo-able unless
        undo != "push". The dispatcher saves it once the handler has returned its reply, in the
        same round trip that stores the reply of a callback (a conflict re-runs the command).

        The undo stack remembers who made the change, so 撤销 only reverts the department's own.
        """
        if self.pending is not None:
            raise RuntimeError("a command changes at most one assignment")
        reached = after.updated_at if before.is_complete != after.is_complete else ""
        entry = ""
        if undo == "push":
            entry = json.dumps(
                {
                    "by": self.actor,
                    "admin": self.is_admin and self.department != after.department,
                    "action": action,
                    "before": before_raw,
                },
                ensure_ascii=False,
            )
        self.pending = Change(
            before_raw=before_raw,
            after=after,
            actor=self.actor,
            action=action,
            undo=undo,
            undo_entry=entry,
            reached_at=reached,
            notices=notices,
            note=note,
            link_urls=link_urls,
        )


@dataclass(frozen=True)
class Outcome:
    """What a platform callback came to: our reply, or (a redelivered copy) the stored reply of
    the first copy, "" while that one still runs."""

    reply: Reply | None
    duplicate: str | None = None
    drain: bool = False  # notices wait in the outbox: queue one drain


@dataclass
class _Once:
    """One callback's bookkeeping: its message id is claimed by the first round trip (with the
    preload when there is one) and its reply stored by the last (with the change if any)."""

    platform: str
    message_id: str
    drain_group: str
    debounce_ms: int
    claimed: bool = False
    duplicate: str | None = None
    finished: bool = False
    drain: bool = False

    def finish(self, reply: Reply) -> Finish:
        return Finish(
            self.platform, self.message_id, reply.to_json(), self.drain_group, self.debounce_ms
        )


class Dispatcher:
    """Turns an Incoming into a Reply. Never raises."""

    def __init__(
        self,
        registry: Registry,
        catalog: Catalog,
        org: Org,
        store: Any,
        calendar: Any = None,
        services: dict[str, Any] | None = None,
        retries: int = 5,
        transient: tuple[type[Exception], ...] = (),
    ):
        self.registry = registry
        self.catalog = catalog
        self.org = org
        self.store = store
        self.calendar = calendar
        self.services = services or {}
        self.retries = retries
        # The store's errors that say Redis was not reached (connection lost, timeout): a save
        # that fails with one of them changed nothing.
        self.transient = transient

    def handle(self, msg: Incoming) -> Reply:
        """A message from a trusted local channel (console, sandbox, admin pages): no dedupe."""
        return self._handle(msg, None)

    def handle_once(self, msg: Incoming, drain_group: str = "", debounce_ms: int = 0) -> Outcome:
        """A platform callback, deduplicated by `msg.message_id`: the first copy runs, any other
        gets the first one's stored reply and changes nothing. Two round trips in all for every
        command (claim with the preload, reply with the change)."""
        if not msg.message_id:
            return Outcome(self._handle(msg, None))
        once = _Once(msg.platform, msg.message_id, drain_group, debounce_ms)
        reply = self._handle(msg, once)
        if once.duplicate is None and not once.claimed:
            first, stored = self.store.claim_message(msg.platform, msg.message_id)
            once.duplicate = None if first else stored
        if once.duplicate is not None:
            return Outcome(None, once.duplicate)
        if not once.finished:
            once.drain = self.store.finish(once.finish(reply))
        return Outcome(reply, None, once.drain)

    def _handle(self, msg: Incoming, once: _Once | None) -> Reply:
        text = normalize(msg.text)
        if not text:
            return Reply(texts.HELLO) if msg.mentioned else Reply.quiet()
        found = self.registry.match(text)
        if found is None:
            return self._unknown(msg, text)
        cmd, rest = found
        try:
            args = cmd.parse(rest, self.catalog)
        except UserError as e:
            if rest and rest[0] not in _SEP:
                # The keyword only starts a sentence (「报送时间是哪天？」「完成了吗」): chat, not a
                # command, so nothing runs and an unaddressed message gets no answer.
                return self._unknown(msg, text)
            return Reply(f"{e}\n{texts.USAGE.format(usage=cmd.usage)}")
        try:
            return self._run(cmd, args, msg, once)
        except UserError as e:
            return Reply(str(e))
        except Unfinished:
            raise
        except Exception:
            log.exception("command %s failed", cmd.keyword)
            return Reply(texts.INTERNAL_ERROR)

    def _unknown(self, msg: Incoming, text: str) -> Reply:
        """Not a command: a "did you mean" when the bot was addressed, else silence."""
        if not msg.mentioned:
            return Reply.quiet()
        near = self.registry.suggest(text)
        return Reply(texts.UNKNOWN.format(near="、".join(near) if near else "帮助"))

    def _run(self, cmd: Command, args: list[Any], msg: Incoming, once: _Once | None) -> Reply:
        is_admin = msg.is_admin or self.org.is_admin(msg.platform, msg.user_id)
        if cmd.admin and not is_admin:
            raise UserError(texts.ADMIN_ONLY.format(cmd=cmd.keyword))
        ind = next((a.id for a in args if isinstance(a, Indicator)), None)
        scope = cmd.preload if (cmd.preload != "one" or ind is not None) else "none"
        for _ in range(self.retries):
            claim = once.message_id if once and not once.claimed else ""
            pre = self.store.preload(msg.platform, msg.user_id, ind, scope, claim=claim)
            if claim:
                once.claimed = True
                if pre.duplicate is not None:
                    once.duplicate = pre.duplicate
                    return Reply.quiet()
            ctx = Context(
                msg=msg,
                catalog=self.catalog,
                org=self.org,
                store=self.store,
                registry=self.registry,
                now=self.store.clock(),
                is_admin=is_admin,
                preload=pre,
                calendar=self.calendar,
                services=self.services,
            )
            if cmd.needs_binding and pre.binding is None:
                raise UserError(texts.NOT_BOUND)
            try:
                reply = cmd.func(ctx, *args)
                if ctx.pending is not None:
                    fin = once.finish(reply) if once else None
                    drain = self._save(ctx.pending, fin, once)
                    if once:
                        once.finished, once.drain = True, drain
                return reply
            except ConflictError:
                continue
        return Reply(texts.BUSY)

    def _save(self, change: Change, fin: Finish | None, once: _Once | None) -> bool:
        """The command's change (with a callback's reply, in the same script). If Redis was not
        reached, nothing was saved: the message's claim is released and Unfinished raised, so a
        redelivery completes the command instead of finding a claim that nothing will finish.
        A script that ran but whose answer was lost left its reply, which the release keeps."""
        try:
            return self.store.save(change, fin)
        except self.transient as e:
            if once is None:
                raise
            log.warning("save of %s %s failed (%s)", once.platform, once.message_id, e)
            try:
                self.store.release_claim(once.platform, once.message_id)
            except self.transient:
                log.error("claim of %s %s could not be released", once.platform, once.message_id)
            raise Unfinished(once.message_id) from e

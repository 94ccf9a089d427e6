"""The command core: normalise -> match -> parse typed arguments -> preload -> handle.

Handlers register themselves with `@command(...)`; the first docstring line is the usage shown by
帮助. The core never imports Flask, Redis or a platform module; the store arrives through Context.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import importlib
import logging
import pkgutil
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from bot import chatfiles, texts
from bot.catalog import Catalog, Indicator
from bot.chars import first_illegal
from bot.errors import UserError
from bot.messages import Incoming, Notice, Reply
from bot.org import Org
from bot.paste import LinkGroup, PasteError, read_links
from bot.progress import Assignment, Role
from bot.records import Begin, Change, ConflictError, Finish, Finished
from bot.rules import Edit, to_change
from bot.timeline import Timeline

if TYPE_CHECKING:
    from bot.campaigns import Campaigns
    from bot.config import Settings
    from bot.filestore import FileStore

log = logging.getLogger(__name__)


class Unfinished(Exception):
    """A platform callback whose command could not complete (Redis failed under it). Its claim
    was released, or expires by itself unless the command committed: the caller must not
    acknowledge the callback, so that the platform's redelivery, or the next drain of the inbox,
    runs the command.

    `held`: the claim is this run's own and is still set (releasing it failed too, as on a full
    disk, where the release is a write as well), so whoever retries this very entry knows no
    other run holds it and may release it at once instead of waiting for its expiry."""

    def __init__(self, message_id: str, held: bool = False):
        super().__init__(message_id)
        self.held = held


# --- normalising ---------------------------------------------------------------------------

_MENTION = re.compile(r"^(?:@\S+\s+)+")
_BLANK = "\u200b\ufeff"  # zero-width characters some clients insert: read as spaces


@functools.lru_cache(maxsize=8192)
def _fold_char(c: str) -> str:
    """One character in NFKC (kept per process: a message's characters repeat)."""
    return c if c < "\x80" else unicodedata.normalize("NFKC", c)


def normalize(text: str) -> str:
    """NFKC (full-width -> half-width), leading @mentions removed, whitespace collapsed: the form
    command words, numbers and links are parsed in. Free text is taken from the original."""
    return Rest.of(strip_mentions(text or "")).text


def strip_mentions(raw: str) -> str:
    """The message without the @mentions that open it (the bot's own, as platforms send it)."""
    t = raw.strip()
    if not t.startswith(("@", "＠")):
        return t
    folded = Rest.of(t)
    m = _MENTION.match(folded.text + " ")
    return folded.skip(m.end()).original.strip() if m else t


@dataclass(frozen=True, eq=False)
class Rest:
    """What is left of a message to parse, seen two ways: `text`, folded for parsing (NFKC, each
    run of whitespace one space, no space at either end), and `original`, the same part exactly
    as typed. Parameters parse the folded text and take free text from the original."""

    folded: str
    raw: str
    at: tuple[int, ...]  # at[i]: where folded[i] came from in raw; at[-1] == len(raw)
    i: int = 0

    @classmethod
    def of(cls, raw: str) -> Rest:
        """`raw` folded. A short text is kept per process for the next time (a message is
        folded more than once on its way, and commands repeat; a Rest is never changed); a
        long one, a 说明 say, is folded each time, so the cache stays small."""
        return _rest_of(raw) if len(raw) <= _KEPT_LEN else cls._fold(raw)

    @classmethod
    def _fold(cls, raw: str) -> Rest:
        out: list[str] = []
        at: list[int] = []
        space = True  # no space at the start
        for k, c in enumerate(raw):
            for f in _fold_char(c):
                if f.isspace() or f in _BLANK:
                    if not space:
                        out.append(" ")
                        at.append(k)
                        space = True
                    continue
                out.append(f)
                at.append(k)
                space = False
        if out and out[-1] == " ":
            out.pop()
            at.pop()
        at.append(len(raw))
        return cls("".join(out), raw, tuple(at))

    @property
    def text(self) -> str:
        return self.folded[self.i :]

    @property
    def original(self) -> str:
        """The rest exactly as typed (line breaks and full-width punctuation included)."""
        return self.raw[self.at[self.i] :]

    def skip(self, n: int) -> Rest:
        return Rest(self.folded, self.raw, self.at, min(self.i + n, len(self.folded)))

    def lstrip(self, chars: str | None = None) -> Rest:
        t = self.text
        return self.skip(len(t) - len(t.lstrip(_SEP if chars is None else chars)))

    def end(self) -> Rest:
        return self.skip(len(self.text))


_KEPT_LEN = 200
_rest_of = functools.lru_cache(maxsize=512)(Rest._fold)


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


def split_token(rest: Rest) -> tuple[str, Rest]:
    rest = rest.lstrip()
    m = re.match(r"[^ ,;:、。]+", rest.text)
    if not m:
        return "", rest
    return m.group(0), rest.skip(m.end()).lstrip()


def check_storable(text: str) -> str:
    """`text`, if every character of it can be kept and exported (bot.chars); else a refusal."""
    bad = first_illegal(text)
    if bad:
        raise UserError(texts.UNSTORABLE.format(code=bad))
    return text


# --- parameters ----------------------------------------------------------------------------


class Param(Protocol):
    name: str

    def parse(self, rest: Rest, catalog: Catalog) -> tuple[Any, Rest]: ...


@dataclass(frozen=True)
class IndicatorParam:
    """An indicator number: 12, 第12项, #12, 12号, １２, 十二."""

    name: str = "indicator"

    def parse(self, rest: Rest, catalog: Catalog) -> tuple[Indicator, Rest]:
        rest = rest.lstrip()
        m = _IND.match(rest.text)
        n = None
        if m and (m.group(1).isdigit() or _ends_word(rest.text, m)):
            g = m.group(1)
            n = int(g) if g.isdigit() else chinese_number(g)
        if n is None:
            raise UserError(texts.NEED_INDICATOR.format(lo=catalog.min_id, hi=catalog.max_id))
        ind = catalog.get(n)
        if ind is None:
            raise UserError(
                texts.NO_SUCH_INDICATOR.format(n=n, lo=catalog.min_id, hi=catalog.max_id)
            )
        return ind, rest.skip(m.end()).lstrip()


# One number of a batch, as IndicatorParam reads it (第12项, #12, 12号, 十二), optionally the
# start of a range: 12-15, 12~15, 12—15, 12至15, 12到15 (full-width forms are folded first).
_NUM = r"(?:第\s*)?#?\s*(\d+|[零〇一二两三四五六七八九十百]+)\s*(?:项|号|条)?"
_BATCH_ITEM = re.compile(_NUM + r"(?:\s*(?:-|~|〜|—|–|至|到)\s*" + _NUM + ")?")
_BATCH_SEP = re.compile(r"[ ,;、和及]*")
MAX_BATCH = 12  # items one batch may name: its reply still fits one phone screen


@dataclass(frozen=True)
class Batch:
    """The indicators one command names at once (「完成 12 13」「完成 12-15」「完成 12、13」), in
    the order written, each once; a number the catalog does not have stays a bare int, so the
    reply can name it while the others go ahead."""

    items: tuple[Indicator | int, ...]


@dataclass(frozen=True)
class IndicatorsParam:
    """One indicator number or several: 12 13, 12-15, 12、13, 第12、13项 (see Batch)."""

    name: str = "indicators"

    def parse(self, rest: Rest, catalog: Catalog) -> tuple[Batch, Rest]:
        rest = rest.lstrip()
        numbers: list[int] = []
        while True:
            m = _BATCH_ITEM.match(rest.text)
            if not m or not (m.group(1).isdigit() or _ends_word(rest.text, m)):
                break
            lo = _number(m.group(1))
            hi = _number(m.group(2)) if m.group(2) else lo
            if lo is None or hi is None:
                break
            if hi < lo:
                raise UserError(texts.BATCH_BACKWARDS.format(lo=lo, hi=hi))
            if hi - lo >= MAX_BATCH:
                raise UserError(texts.BATCH_TOO_MANY.format(n=MAX_BATCH))
            numbers += [n for n in range(lo, hi + 1) if n not in numbers]
            if len(numbers) > MAX_BATCH:
                raise UserError(texts.BATCH_TOO_MANY.format(n=MAX_BATCH))
            rest = rest.skip(m.end())
            after = _BATCH_SEP.match(rest.text)
            if not _BATCH_ITEM.match(rest.text[after.end() :]):
                break
            rest = rest.skip(after.end())
        if not numbers:
            raise UserError(texts.NEED_INDICATOR.format(lo=catalog.min_id, hi=catalog.max_id))
        items = tuple(catalog.get(n) or n for n in numbers)
        if len(items) == 1 and isinstance(items[0], int):
            raise UserError(
                texts.NO_SUCH_INDICATOR.format(n=items[0], lo=catalog.min_id, hi=catalog.max_id)
            )
        return Batch(items), rest.lstrip()


def _number(g: str) -> int | None:
    return int(g) if g.isdigit() else chinese_number(g)


def _ends_word(rest: str, m: re.Match) -> bool:
    """A number in Chinese numerals is one only where it ends: 「十二」「第一项」, but not the 一 of
    「一下」 (「说明一下情况」 is not 说明 for indicator 1)."""
    return m.group(0)[-1] in "项号条" or rest[m.end(1) : m.end(1) + 1] in ("", *_SEP)


@dataclass(frozen=True)
class IntParam:
    name: str
    missing: str  # the error text when absent

    def parse(self, rest: Rest, catalog: Catalog) -> tuple[int, Rest]:
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
    """One word (up to the next space or separator), folded: a name to look up, not to keep."""

    name: str
    missing: str = ""  # error text when absent; "" = optional

    def parse(self, rest: Rest, catalog: Catalog) -> tuple[str, Rest]:
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

    def parse(self, rest: Rest, catalog: Catalog) -> tuple[str, Rest]:
        tok, after = split_token(rest)
        if tok and tok not in self.choices:
            raise UserError(self.wrong)
        return tok, after


@dataclass(frozen=True)
class WordParam:
    """An optional keyword ("报送 确认", "导出 案卷"): the word when given, else "" with the
    text left for the parameters after it (or for the usual "text left over" answer, so
    nothing runs on a typo)."""

    name: str
    words: tuple[str, ...]

    def parse(self, rest: Rest, catalog: Catalog) -> tuple[str, Rest]:
        tok, after = split_token(rest)
        return (tok, after) if tok in self.words else ("", rest)


@dataclass(frozen=True)
class TextParam:
    """The rest of the message exactly as typed: full-width punctuation and line breaks kept,
    only the separators before it and the spaces around it left out."""

    name: str
    missing: str = ""
    max_len: int = 2000

    def parse(self, rest: Rest, catalog: Catalog) -> tuple[str, Rest]:
        t = rest.lstrip().original.rstrip()
        if not t and self.missing:
            raise UserError(self.missing)
        if len(t) > self.max_len:
            raise UserError(texts.TOO_LONG.format(n=self.max_len))
        return check_storable(t), rest.end()


# "存放：档案室3号柜", "存放位置: …", "(存放于机要室)": where a paper material is kept. The label
# needs its colon (or 于/在), so a name such as 「档案存放管理制度」 stays a name.
_PLACE = re.compile(r"[(（]?\s*(?:存放(?:位置|地点)?\s*[:：]|存放[于在])\s*")


@dataclass(frozen=True)
class PaperParam:
    """A paper material's name, then where it is kept (optional): 「名称 存放：档案室3号柜」.
    Both are taken exactly as typed."""

    name: str
    missing: str
    max_len: int = 200

    def parse(self, rest: Rest, catalog: Catalog) -> tuple[tuple[str, str], Rest]:
        t = rest.lstrip().original.strip()
        m = _PLACE.search(t)
        title, place = (t[: m.start()], t[m.end() :]) if m else (t, "")
        title = title.strip(_SEP + " \t\r\n\u3000")
        place = place.strip(_SEP + " \t\r\n\u3000").removesuffix(")").removesuffix("）").strip()
        if not title:
            raise UserError(self.missing)
        if m and not place:
            raise UserError(texts.NEED_PLACE)
        if len(title) > self.max_len or len(place) > self.max_len:
            raise UserError(texts.TOO_LONG.format(n=self.max_len))
        return (check_storable(title), check_storable(place)), rest.end()


_PAGE = re.compile(r"(?:第)?(\d+|[零〇一二两三四五六七八九十百]+)(?:页)?")


@dataclass(frozen=True)
class PageParam:
    """A page of a long list: 「第2页」「2」「２」「第二页」「2页」; nothing gives page 1."""

    name: str
    wrong: str  # the error text for anything else

    def parse(self, rest: Rest, catalog: Catalog) -> tuple[int, Rest]:
        tok, after = split_token(rest)
        if not tok:
            return 1, after
        n = page_number(tok)
        if n is None:
            raise UserError(self.wrong)
        return n, after


def page_number(tok: str) -> int | None:
    m = _PAGE.fullmatch(tok)
    if m is None:
        return None
    g = m.group(1)
    return (int(g) if g.isdigit() else chinese_number(g)) or None


@dataclass(frozen=True)
class FilterPageParam:
    """An optional word out of a fixed set, then an optional page: 「全部 第2页」「第2页」「2」
    (see PageParam); gives (word or "", page)."""

    name: str
    choices: tuple[str, ...]
    wrong: str

    def parse(self, rest: Rest, catalog: Catalog) -> tuple[tuple[str, int], Rest]:
        tok, after = split_token(rest)
        word = ""
        if tok in self.choices:
            word, rest = tok, after
        page, rest = PageParam(self.name, self.wrong).parse(rest, catalog)
        return (word, page), rest


_DATE = re.compile(r"(?:(\d{4})\s*[-/.年]\s*)?(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*(?:日|号)?")
CLEAR_WORDS = ("清除", "待定", "取消")


@dataclass(frozen=True)
class DateParam:
    """A day: 2020-09-15, 2020/9/15, 2020年9月15日, 9月15日, 9.15 (the campaign's year when
    none is written); one of CLEAR_WORDS gives ""; nothing at all gives None."""

    name: str
    wrong: str  # the error text for anything else

    def parse(self, rest: Rest, catalog: Catalog) -> tuple[datetime.date | str | None, Rest]:
        tok = rest.text.strip(_SEP + " ")
        if not tok:
            return None, rest.end()
        if tok in CLEAR_WORDS:
            return "", rest.end()
        m = _DATE.fullmatch(tok)
        if m is None:
            raise UserError(self.wrong)
        events = catalog.campaign.events
        year = int(
            m.group(1) or (events[0].window_start if events else catalog.campaign.issued_on).year
        )
        try:
            return datetime.date(year, int(m.group(2)), int(m.group(3))), rest.end()
        except ValueError:
            raise UserError(self.wrong) from None


@dataclass(frozen=True)
class LinksParam:
    """Web links and their names, line by line as pasted (see bot.paste.read_links)."""

    name: str = "links"

    def parse(self, rest: Rest, catalog: Catalog) -> tuple[tuple[LinkGroup, ...], Rest]:
        raw = rest.lstrip().original
        check_storable(raw)
        try:
            return read_links(raw), rest.end()
        except PasteError as e:
            raise UserError(str(e)) from None


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
    preload: str  # "one" | "all" | "states" | "none" (see store.assignments.preload)

    @property
    def usage(self) -> str:
        doc = (self.func.__doc__ or "").strip().splitlines()
        return doc[0].strip() if doc else self.keyword

    @property
    def details(self) -> str:
        doc = (self.func.__doc__ or "").strip().splitlines()
        return "\n".join(line.strip() for line in doc[1:]).strip()

    def parse(self, rest: Rest, catalog: Catalog) -> list[Any]:
        """The typed arguments; text left over after them is refused, not ignored: 「完成 12 13」
        does not quietly complete 12 alone, and 「解绑 是什么意思」 does not unbind."""
        values = []
        for p in self.params:
            v, rest = p.parse(rest, catalog)
            if isinstance(v, Batch) and len(v.items) == 1:
                v = v.items[0]  # one indicator: the command as usual
            values.append(v)
        extra = rest.text.strip(_CLOSING)
        if extra:
            raise UserError(texts.EXTRA_TEXT.format(extra=texts.quoted(extra, 20)))
        return values

    @property
    def takes_text(self) -> bool:
        """Whether its last argument is a free text, which may go on over several lines."""
        return bool(self.params) and isinstance(self.params[-1], TextParam)


class Registry:
    """Keyword -> Command; duplicate keywords fail at import."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self._by_word: dict[str, Command] = {}
        self._longest_first: dict[str, list[str]] = {}  # by first character

    def add(self, cmd: Command) -> None:
        for w in (cmd.keyword, *cmd.aliases):
            w = normalize(w).lower()
            if w in self._by_word:
                raise ValueError(f"duplicate command keyword {w!r}")
            self._by_word[w] = cmd
        self.commands.append(cmd)
        self._longest_first = {}
        for w in sorted(self._by_word, key=len, reverse=True):
            self._longest_first.setdefault(w[0], []).append(w)

    def words(self) -> list[str]:
        return list(self._by_word)

    def get(self, word: str) -> Command | None:
        return self._by_word.get(normalize(word).lower())

    def match(self, rest: Rest) -> tuple[Command, Rest] | None:
        """Longest keyword that starts the text; latin keywords need a word boundary."""
        text = rest.text
        low = text.lower()
        for w in self._longest_first.get(low[:1], ()):
            if low.startswith(w):
                after = text[len(w) :]
                if w.isascii() and w.isalpha() and after[:1].isalnum():
                    continue
                return self._by_word[w], rest.skip(len(w))
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
class Services:
    """What handlers use besides the store and the data files: built once per process and per
    campaign by bot.runtime, shared by the runtime's view, its dispatcher and every Context."""

    settings: Settings | None = None
    # enqueue("bot.jobs.name", *args, job_id=..., **kwargs) -> job id (bot.queue.make_enqueue),
    # naming this campaign in the jobs that act in one (bot.runtime.campaign_enqueue)
    enqueue: Callable[..., str] | None = None
    link_key: str = ""  # signs the fill-in page links (bot/filllinks.py): the web's session key
    files: FileStore | None = None  # uploads and files sent in chat (bot/filestore.py)
    assignments: dict[tuple[int, str], Role] = field(default_factory=dict)
    units_of: dict[int, dict[str, Role]] = field(default_factory=dict)  # indicator -> its units
    campaign: str = ""  # the id of the campaign these commands act in
    campaigns: Campaigns | None = None  # every campaign of the deployment (切换, titles)


# The commands an archived campaign still answers: they read (导出 writes nothing but a file).
READ_ONLY_COMMANDS = frozenset({"帮助", "我的任务", "查看", "进度", "排行", "总览", "导出", "切换"})


@dataclass
class Context:
    """Everything a handler may use. `store` is the RedisStore (duck-typed here)."""

    msg: Incoming
    catalog: Catalog
    org: Org
    store: Any
    registry: Registry
    now: datetime.datetime
    is_admin: bool
    preload: Any  # bot.store.Preload
    calendar: Any = None  # bot.workdays.WorkCalendar
    services: Services = field(default_factory=Services)
    pending: Change | None = None  # the command's change, saved by the dispatcher after it
    # A platform callback's (platform, message id): a handler that writes itself (not through
    # `pending`) passes it to the store, which keeps the claim for the dedupe window in the
    # same step (bot.records.CLAIM_TTL_S). None for a trusted local channel.
    claim: tuple[str, str] | None = None
    # What runs once the command's change is saved (not when it was refused or conflicted):
    # letting go of what the change used up, e.g. a file held for its number (bot.chatfiles).
    after_save: list[Callable[[], Any]] = field(default_factory=list)

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

    @property
    def timeline(self) -> Timeline:
        """The campaign's deadlines and events, with the days the office has set."""
        return Timeline(self.catalog.campaign, self.preload.event_dates)

    def own(self, ind: Indicator) -> tuple[Assignment, str]:
        """Our department's assignment for `ind` and its stored JSON; refuses a foreign one.

        A bonus item (加分项) is open to every department: one the table does not name gets a
        fresh assignment of its own, created by the change that follows ("" = must not exist).
        """
        dept = self.require_department()
        a = self.preload.assignments.get(ind.id)
        if a is None and ind.kind == "bonus":
            return Assignment(ind.id, dept, Role.COOPERATE), ""
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
        self.apply(before, before_raw, Edit(after, action, note, notices, link_urls, undo))

    def apply(self, before: Assignment, before_raw: str, edit: Edit) -> None:
        """Stage a rule's decision (bot.rules) as the command's one change; see commit."""
        if self.pending is not None:
            raise RuntimeError("a command changes at most one assignment")
        by_office = self.is_admin and self.department != edit.after.department
        self.pending = to_change(before, before_raw, edit, self.actor, by_office, self.catalog)


@dataclass(frozen=True)
class Outcome:
    """What a platform callback came to: our reply, or (a redelivered copy) the stored reply of
    the first copy, "" while that one still runs."""

    reply: Reply | None
    duplicate: str | None = None
    drain: bool = False  # notices wait in the outbox: queue one drain
    # the claim of the reply's first part taken with its finish (Finished.begun), when asked
    begun: tuple[str, int] | None = None
    # the store of the campaign the message acted in, where its claim and stored reply live
    # (None: the dispatcher's own); a redelivery waits for the first copy there (first_reply)
    store: Any = None


@dataclass
class _Once:
    """One callback's bookkeeping: its message id is claimed by the first round trip (with the
    preload when there is one) and its reply stored by the last (with the change if any)."""

    platform: str
    message_id: str
    drain_group: str
    debounce_ms: int
    begin: Begin | None = None  # the reply's first part, claimed with the finish if shown
    claimed: bool = False
    duplicate: str | None = None
    finished: bool = False
    drain: bool = False
    begun: tuple[str, int] | None = None

    def finish(self, reply: Reply) -> Finish:
        begin = self.begin if reply.shown else None
        return Finish(self.platform, self.message_id, reply.to_json(), self.drain_group,
                      self.debounce_ms, begin=begin)  # fmt: skip

    def finished_with(self, done: Finished) -> None:
        self.finished, self.drain, self.begun = True, done.drain, done.begun


class Dispatcher:
    """Turns an Incoming into a Reply. Never raises, but Unfinished (a callback's change that
    could not be saved: the callback must not be acknowledged)."""

    def __init__(
        self,
        registry: Registry,
        catalog: Catalog,
        org: Org,
        store: Any,
        calendar: Any = None,
        services: Services | None = None,
        retries: int = 5,
        transient: Callable[[BaseException], bool] = lambda e: False,
        archived: str = "",
    ):
        self.registry = registry
        self.catalog = catalog
        self.org = org
        self.store = store
        self.calendar = calendar
        self.services = services or Services()
        self.retries = retries
        # Whether a store error says Redis was not reached or refused every write (connection
        # lost, timeout, a full disk): a call that failed so changed nothing.
        self.transient = transient
        # the title of this campaign when it is archived: only READ_ONLY_COMMANDS run
        self.archived = archived
        # bot.campaigns.Campaigns when the deployment has several: which campaign's dispatcher
        # a message goes to (set by bot.runtime; None: every message is this campaign's)
        self.router: Any = None

    def route(self, msg: Incoming) -> Dispatcher | Reply:
        """The dispatcher of the campaign `msg` acts on, or the reply that asks which one (a
        person bound in several, in a one-to-one chat) or says what to configure (a group
        that belongs to no campaign)."""
        if self.router is None:
            return self
        to = self.router.route(msg)
        if isinstance(to, Reply):
            return to
        return self.router.dispatchers.get(to, self)

    def handle(self, msg: Incoming, *, one_command: bool = False, routed: bool = False) -> Reply:
        """A message from a trusted local channel (console, sandbox, admin pages): no dedupe.
        `one_command`: the whole text is one command's (an admin page's form), never split.
        `routed`: this dispatcher's campaign is known to be the message's (see route)."""
        if not routed:
            to = self.route(msg)
            if isinstance(to, Reply):
                return to
            if to is not self:
                return to.handle(msg, one_command=one_command, routed=True)
        pieces = [strip_mentions(msg.text)] if one_command else self.split(msg.text)
        if len(pieces) == 1:
            return self._piece(msg, pieces[0])
        return _combined([self._piece(msg, p) for p in pieces])

    def _piece(self, msg: Incoming, piece: str) -> Reply:
        def run(text: str, _: str) -> tuple[Reply, bool]:
            return self._handle(msg, text, None), False

        return self._expanded(piece, "", run)[0]

    def _expanded(
        self, piece: str, message_id: str, run: Callable[[str, str], tuple[Reply, bool]]
    ) -> tuple[Reply, bool]:
        """`run(text, message_id)` for the command of `piece`: once, or for a batch
        (「完成 12-15」) once per item as a command of its own, "<message_id>.<k>", with one
        reply for them all. Gives the reply and whether to queue a drain of the outbox."""
        batch = self.batch_of(piece)
        if batch is None:
            return run(piece, message_id)
        cmd, items = batch
        replies, drain = [], False
        for k, it in enumerate(items, start=1):
            if not isinstance(it, Indicator):
                replies.append(self._no_such(it))
                continue
            reply, d = run(f"{cmd.keyword} {it.id}", f"{message_id}.{k}")
            replies.append(reply)
            drain |= d
        return _batch_reply(cmd.keyword, replies), drain

    def batch_of(self, piece: str) -> tuple[Command, tuple[Indicator | int, ...]] | None:
        """(command, items) when `piece` names several indicators to one command at once
        (「完成 12-15」): each item then runs as that command on its own, and one reply tells
        which went ahead and which were refused (bot.commands.Batch)."""
        found = self.registry.match(Rest.of(piece))
        if found is None or not any(isinstance(p, IndicatorsParam) for p in found[0].params):
            return None
        cmd, rest = found
        try:
            args = cmd.parse(rest, self.catalog)
        except UserError:
            return None
        batch = next((a for a in args if isinstance(a, Batch)), None)
        return (cmd, batch.items) if batch is not None else None

    def _no_such(self, n: int) -> Reply:
        c = self.catalog
        return Reply(texts.NO_SUCH_INDICATOR.format(n=n, lo=c.min_id, hi=c.max_id), refused=True)

    def handle_once(
        self, msg: Incoming, drain_group: str = "", debounce_ms: int = 0, resume: bool = False,
        routed: bool = False, begin: Begin | None = None,
    ) -> Outcome:  # fmt: skip
        """A platform callback, deduplicated by `msg.message_id`: the first copy runs, any other
        gets the first one's stored reply and changes nothing. Two round trips in all for a
        message of one command (claim with the preload, reply with the change).

        A message of several commands (see split) claims its id first and stores the combined
        reply last; in between each command runs as a callback of its own, "<id>#<n>", so each
        has one effect however often the message comes. `resume` (a worker taking over the
        message from one that died) runs the commands the first run did not reach and answers
        for the others with their stored replies. A batch (「完成 12-15」) is such a message,
        its items the commands. The message goes to its campaign's dispatcher first (route).
        `begin`: the claim of the reply's first part, taken by the script that stores the reply
        (see Begin), its outcome in Outcome.begun."""
        if not routed:
            to = self.route(msg)
            if isinstance(to, Reply):
                return Outcome(to)
            if to is not self:
                out = to.handle_once(msg, drain_group, debounce_ms, resume, True, begin)
                return replace(out, store=to.store)
        if not msg.message_id:
            return Outcome(self.handle(msg, routed=True))
        pieces = self.split(msg.text)
        if len(pieces) == 1 and self.batch_of(pieces[0]) is None:
            return self._once(msg, pieces[0], msg.message_id, drain_group, debounce_ms, begin)
        first, stored = self.store.inbox.claim(msg.platform, msg.message_id)
        if not first and (stored or not resume):
            return Outcome(None, stored)
        replies, drain = [], False
        for n, piece in enumerate(pieces, start=1):
            try:
                reply, d = self._piece_once(
                    msg, piece, f"{msg.message_id}#{n}", drain_group, debounce_ms
                )
            except Unfinished:
                # That command's claim was released; the message's must go too, or the
                # redelivery would find it claimed with no reply coming. The commands before it
                # keep theirs and answer the redelivery with their stored replies.
                self._release(msg.platform, msg.message_id)
                raise
            drain |= d
            replies.append(reply)
        reply = _combined(replies)
        once = _Once(msg.platform, msg.message_id, drain_group, debounce_ms, begin)
        done = self.store.inbox.finish(once.finish(reply))
        return Outcome(reply, None, drain or done.drain, done.begun)

    def _piece_once(
        self, msg: Incoming, piece: str, message_id: str, drain_group: str, debounce_ms: int
    ) -> tuple[Reply, bool]:
        """One command of a message run as a callback of its own (`message_id`): its reply and
        whether to queue a drain. Each item of a batch is a callback of its own too (see
        _expanded), so a redelivered or resumed message changes each item once and answers
        with the same reply."""

        def run(text: str, sub_id: str) -> tuple[Reply, bool]:
            out = self._once(msg, text, sub_id, drain_group, debounce_ms)
            if out.reply is not None:
                return out.reply, out.drain
            if out.duplicate:
                return Reply.from_json(out.duplicate), out.drain
            # claimed by a run that died before its reply was stored
            return Reply(texts.INTERRUPTED.format(text=texts.quoted(text, 20))), out.drain

        return self._expanded(piece, message_id, run)

    def _once(
        self, msg: Incoming, text: str, message_id: str, drain_group: str, debounce_ms: int,
        begin: Begin | None = None,
    ) -> Outcome:  # fmt: skip
        once = _Once(msg.platform, message_id, drain_group, debounce_ms, begin)
        reply = self._handle(msg, text, once)
        if once.duplicate is None and not once.claimed:
            first, stored = self.store.inbox.claim(msg.platform, message_id)
            once.duplicate = None if first else stored
        if once.duplicate is not None:
            return Outcome(None, once.duplicate)
        if not once.finished:
            once.finished_with(self.store.inbox.finish(once.finish(reply)))
        return Outcome(reply, None, once.drain, once.begun)

    def split(self, text: str) -> list[str]:
        """The commands of one message, each as typed. A line that starts with a command word
        and parses as that command starts a new one (「提交 16 https://…」 then 「完成 16」); any
        other line goes on with the command before it: more links and names for 提交, more text,
        line break included, for 说明. A message whose first line is no command is one piece."""
        raw = strip_mentions(text)
        lines = raw.splitlines(keepends=True)
        if len(lines) < 2:
            return [raw]
        found = self.registry.match(Rest.of(lines[0]))
        if found is None:
            return [raw]
        pieces, current = [[lines[0]]], found[0]
        starts = [self.registry.match(Rest.of(line)) for line in lines]
        for k in range(1, len(lines)):
            if starts[k] is not None and self._starts_command(starts[k], lines, starts, k, current):
                pieces.append([lines[k]])
                current = starts[k][0]
            else:
                pieces[-1].append(lines[k])
        return ["".join(p).rstrip("\r\n") for p in pieces]

    def _starts_command(self, found, lines, starts, k: int, current: Command) -> bool:
        cmd, rest = found
        end = next((j for j in range(k + 1, len(lines)) if starts[j] is not None), len(lines))
        for candidate in {lines[k], "".join(lines[k:end])}:
            try:
                cmd.parse(self.registry.match(Rest.of(candidate))[1], self.catalog)
                return True
            except UserError:
                continue
        # A command word, then a space, and wrong arguments (「完成 120」): a command still, which
        # gets its error, unless the command before takes a text such a line may belong to.
        return not current.takes_text and (not rest.text or rest.text[0] in _SEP)

    def _handle(self, msg: Incoming, text: str, once: _Once | None) -> Reply:
        whole = Rest.of(text)
        if msg.attachment and not whole.text:
            whole = Rest.of(chatfiles.RECEIVE)  # a file or picture: held for its number
        if not whole.text:
            return Reply(texts.HELLO) if msg.mentioned else Reply.quiet()
        found = self.registry.match(whole)
        if found is None:
            number = chatfiles.is_bare_number(whole.text)
            if number is not None and self.store.held_files.get(msg.platform, msg.user_id):
                # the number a held file waits for: 「12」 files it under item 12
                found = self.registry.match(Rest.of(f"{chatfiles.KEYWORD} {number}"))
        if found is None:
            return self._unknown(msg, whole.text)
        cmd, rest = found
        # A character no file can hold is refused before anything (bot.chars): nothing of the
        # command is kept, and no reply echoes it.
        bad = first_illegal(text)
        try:
            args = cmd.parse(rest, self.catalog)
        except UserError as e:
            if rest.text and rest.text[0] not in _SEP:
                # The keyword only starts a sentence (「报送时间是哪天？」「完成了吗」): chat, not a
                # command, so nothing runs and an unaddressed message gets no answer.
                return self._unknown(msg, whole.text)
            if bad:
                return Reply(texts.UNSTORABLE.format(code=bad), refused=True)
            return Reply(f"{e}\n{texts.USAGE.format(usage=cmd.usage)}", refused=True)
        if bad:
            return Reply(texts.UNSTORABLE.format(code=bad), refused=True)
        try:
            return self._run(cmd, args, msg, once)
        except UserError as e:
            return Reply(str(e), refused=True)
        except Unfinished:
            raise
        except Exception as e:
            if once is not None and self.transient(e):
                # Redis failed under the command: not answered, so the platform (or the next
                # drain of the inbox) delivers it again. Its claim is left as it is: it expires
                # unless the command committed (bot.records.CLAIM_TTL_S).
                log.warning("command %s: Redis unavailable (%s)", cmd.keyword, e)
                raise Unfinished(once.message_id) from e
            log.exception("command %s failed", cmd.keyword)
            return Reply(texts.INTERNAL_ERROR, refused=True)

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
        if self.archived and cmd.keyword not in READ_ONLY_COMMANDS:
            raise UserError(texts.ARCHIVED.format(title=self.archived))
        ind = next((a.id for a in args if isinstance(a, Indicator)), None)
        scope = cmd.preload if (cmd.preload != "one" or ind is not None) else "none"
        chat_dept = self.org.department_of_chat(msg.platform, msg.chat_id) if msg.is_group else ""
        told = ""  # "you act for the group's department", said the first time only
        for _ in range(self.retries):
            claim = once.message_id if once and not once.claimed else ""
            pre = self.store.assignments.preload(
                msg.platform, msg.user_id, ind, scope, claim=claim,
                chat_department=chat_dept, user_name=msg.user_name,
            )  # fmt: skip
            if claim:
                once.claimed = True
                if pre.duplicate is not None:
                    once.duplicate = pre.duplicate
                    return Reply.quiet()
            if pre.first_in_chat:
                told = texts.ACTING_IN_GROUP.format(dept=chat_dept)
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
                claim=(once.platform, once.message_id) if once else None,
            )
            if cmd.needs_binding and pre.binding is None:
                raise UserError(texts.NOT_BOUND)
            try:
                reply = _tell(cmd.func(ctx, *args), told)
                if ctx.pending is not None:
                    fin = once.finish(reply) if once else None
                    done = self._save(ctx.pending, fin, once)
                    if once:
                        once.finished_with(done)
                    for then in ctx.after_save:
                        then()
                return reply
            except ConflictError:
                continue
            except UserError as e:
                raise UserError(_tell(Reply(str(e)), told).text) from None
        return Reply(texts.BUSY, refused=True)

    def _save(self, change: Change, fin: Finish | None, once: _Once | None) -> Finished:
        """The command's change (with a callback's reply, in the same script). If Redis was not
        reached, nothing was saved: the message's claim is released and Unfinished raised, so a
        redelivery completes the command instead of finding a claim that nothing will finish.
        A script that ran but whose answer was lost left its reply, which the release keeps."""
        try:
            return self.store.assignments.save(change, fin)
        except Exception as e:
            if once is None or not self.transient(e):
                raise
            log.warning("save of %s %s failed (%s)", once.platform, once.message_id, e)
            released = self._release(once.platform, once.message_id)
            raise Unfinished(once.message_id, held=not released) from e

    def _release(self, platform: str, message_id: str) -> bool:
        """Whether the claim is gone (released here); False: it is left to expire."""
        try:
            self.store.inbox.release_claim(platform, message_id)
            return True
        except Exception as e:
            if not self.transient(e):
                raise
            # Left to expire: a claim lasts CLAIM_TTL_S unless its command committed.
            log.error("claim of %s %s could not be released", platform, message_id)
            return False


def _combined(replies: list[Reply]) -> Reply:
    """The replies to the commands of one message, in order, as one reply."""
    said = [r for r in replies if not r.silent and r.text]
    if not said:
        return Reply.quiet()
    mentions = tuple(dict.fromkeys(m for r in said for m in r.mentions))
    return Reply("\n\n".join(r.text for r in said), mentions)


def _first_sentence(text: str) -> str:
    line = text.split("\n", 1)[0]
    end = line.find("。")
    return line[: end + 1] if end >= 0 else line


_UNSURE = texts.INTERRUPTED.split("{")[0]  # how the reply of an interrupted command starts
_ICONS = {"done": "✅", "refused": "❌", "unsure": "❔"}


def _outcome(r: Reply) -> str:
    if r.text.startswith(_UNSURE):
        return "unsure"
    return "refused" if r.refused else "done"


def _batch_reply(keyword: str, replies: list[Reply]) -> Reply:
    """One reply for a batch (「完成 12-15」): each item's outcome in a line of its own, what
    went ahead and what was refused (and changed nothing) said plainly at the top."""
    outcomes = [_outcome(r) for r in replies]
    n, k = len(replies), outcomes.count("done")
    refused, unsure = outcomes.count("refused"), outcomes.count("unsure")
    if k == n:
        head = f"「{keyword}」共 {n} 项，全部办理："
    elif refused == n:
        head = f"「{keyword}」共 {n} 项，均未办理，没有任何改动："
    else:
        counts = {"已办理": k, "未办理": refused, "待核对": unsure}
        parts = [f"{c} 项{what}" for what, c in counts.items() if c]
        head = f"「{keyword}」共 {n} 项：{'，'.join(parts)}（不影响已办理的各项）："
    lines = [head]
    notes: list[str] = []
    for r, outcome in zip(replies, outcomes, strict=True):
        lines.append(f"- {_ICONS[outcome]} {_first_sentence(r.text)}")
        # what a reply adds on a line of its own (「本群是…的工作群」) is said once, at the end
        notes += [x for x in r.text.split("\n")[1:] if x and not x.startswith("用法")]
    lines.append("发送「我的任务」查看剩余事项。")
    lines += list(dict.fromkeys(notes))
    mentions = tuple(dict.fromkeys(m for r in replies for m in r.mentions))
    return Reply("\n".join(lines), mentions, refused=refused == n)


def _tell(reply: Reply, note: str) -> Reply:
    """The reply with a note added at its end (nothing is added to silence)."""
    if not note or reply.silent:
        return reply
    return Reply(f"{reply.text}\n{note}", reply.mentions)

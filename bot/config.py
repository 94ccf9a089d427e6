"""Settings: every DUBAN_* environment variable, read once into a frozen dataclass.

`Settings.from_env()` collects every problem before failing, so one start-up names them all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ROOT = Path(__file__).resolve().parent.parent
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class SmtpConfig:
    """DUBAN_SMTP_URL, taken apart (checked at start-up by Settings.problems)."""

    host: str
    port: int
    user: str
    password: str
    sender: str
    tls: str  # "" | "ssl" | "starttls"

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """smtp://[user[:password]@]host[:port][?from=addr&starttls=1], smtps://... for TLS."""
        p = urlsplit(url)
        if p.scheme not in ("smtp", "smtps", "smtp+starttls") or not p.hostname:
            raise ValueError("must look like smtp://user:password@host:port")
        q = {k: v[-1] for k, v in parse_qs(p.query).items()}
        tls = "ssl" if p.scheme == "smtps" else ""
        if p.scheme == "smtp+starttls" or q.get("starttls") in ("1", "true", "yes"):
            tls = "starttls"
        user = unquote(p.username or "")
        default_port = 465 if tls == "ssl" else (587 if tls == "starttls" else 25)
        return cls(
            host=p.hostname,
            port=p.port or default_port,
            user=user,
            password=unquote(p.password or ""),
            sender=q.get("from") or (user if "@" in user else f"duban@{p.hostname}"),
            tls=tls,
        )


class ConfigError(Exception):
    """A missing or bad setting; the message lists every problem found."""


def _bool(v: str) -> bool:
    if v.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if v.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {v!r}")


def _hhmm(v: str) -> str:
    h, m = v.strip().split(":")
    if not (0 <= int(h) < 24 and 0 <= int(m) < 60):
        raise ValueError(f"not a time HH:MM: {v!r}")
    return f"{int(h):02d}:{int(m):02d}"


def _never_after_quiet(hhmm: str, start: str, end: str) -> bool:
    """Whether a daily push at `hhmm` falls in quiet hours that end only the next day: a window
    that wraps midnight (start > end, as WorkCalendar.is_quiet reads it) from start onwards."""
    return start > end and hhmm >= start


def _instant(v: str) -> str:
    v = v.strip()
    if v and datetime.fromisoformat(v).tzinfo is None:
        raise ValueError(f"needs a UTC offset, e.g. 2020-08-14T08:59:00+08:00: {v!r}")
    return v


def _positive_float(v: str) -> float:
    f = float(v)
    if not f > 0:
        raise ValueError(f"must be a positive number: {v!r}")
    return f


def _positive_int(v: str) -> int:
    n = int(v)
    if n < 1:
        raise ValueError(f"must be at least 1: {v!r}")
    return n


def _not_negative(v: str) -> int:
    n = int(v)
    if n < 0:
        raise ValueError(f"must not be negative: {v!r}")
    return n


def _url_problem(name: str, value: str, schemes: tuple[str, ...]) -> str | None:
    p = urlsplit(value)
    if p.scheme not in schemes or not (p.netloc or p.path):
        # the value is not echoed: a Redis URL may hold a password
        return f"{name}: must start with {' or '.join(s + '://' for s in schemes)}"
    return None


def _list(v: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in v.replace(";", ",").split(",") if x.strip())


CAMPAIGN_PASSWORD_PREFIX = "DUBAN_ADMIN_PASSWORD_"  # + a campaign's name for it


@dataclass(frozen=True)
class Settings:
    # storage
    redis_url: str = ""  # "" = embedded redis-server under data_dir
    # Redis Sentinel: the sentinels (host:port, ...) and the name of the master they watch; the
    # master is found through them (DUBAN_REDIS_URL then gives only its password and db)
    redis_sentinels: tuple[str, ...] = ()
    redis_sentinel_master: str = "duban"
    # Redis Cluster: DUBAN_REDIS_URL names one node of it (the client finds the others); each
    # campaign's keys sit in one slot. RQ workers cannot run on a cluster (README)
    redis_cluster: bool = False
    # replicas that must hold a callback before it is acknowledged (Redis WAIT), so that a
    # failover cannot lose what a platform was told was received; 0 = do not wait
    redis_min_replicas: int = 0
    data_dir: str = str(ROOT / "var")
    key_prefix: str = "duban"
    # daily backup of the state (bot/backup.py): where ("" = <data_dir>/backups), at what local
    # time, and how many files are kept (0 = no scheduled backup)
    backup_dir: str = ""
    backup_at: str = "02:30"
    backup_keep: int = 14
    # stored files (bot/filestore.py): evidence uploads, files sent in chat, inspection photos;
    # "" = <data_dir>/files; one file may be at most file_max_mb megabytes
    file_dir: str = ""
    file_max_mb: int = 20
    # data files
    indicators_path: str = str(ROOT / "indicators.yaml")
    org_path: str = str(ROOT / "org.yaml")
    # campaigns (bot/campaigns.py): the id of the campaign made of the two files above, and the
    # folder holding one sub-folder per further campaign (<id>/campaign.yaml, indicators.yaml,
    # optional org.yaml); "" = none
    campaign: str = "default"
    campaigns_dir: str = str(ROOT / "campaigns")
    # web
    secret_key: str = ""
    admin_password: str = ""
    # a second password for the inspectors of the September inspection: it opens the
    # inspection pages (/admin/inspect) and nothing else; "" = only the admin login inspects
    inspector_password: str = ""
    # the office admins' passwords of single campaigns: every DUBAN_ADMIN_PASSWORD_<NAME>
    # variable, as (name, password); a campaign.yaml names its own with `admin_password_env`
    campaign_admin_passwords: tuple[tuple[str, str], ...] = ()
    api_token: str = ""
    public_url: str = "http://127.0.0.1:8000"  # unset: http://127.0.0.1:$PORT when PORT is set
    # days a department's fill-in page link (/m/…, sent by 填报 and 我的任务) stays valid
    fill_link_days: int = 7
    # platforms whose sign-in opens the fill-in page (/m/signin, bot/signin.py): any of
    # dingtalk, wecom, feishu; empty = off (the signed link from 填报 works either way)
    signin_platforms: tuple[str, ...] = ()
    demo: bool = False
    # reverse proxies (IPs or CIDRs) whose X-Forwarded-For names the client; nobody else's is
    # read (nginx on the same host: 127.0.0.1)
    trusted_proxies: tuple[str, ...] = ()
    # how much the processes log: debug, info, warning or error (`make run` is quiet: warning)
    log_level: str = "info"
    # time and calendar
    tz: str = "Asia/Shanghai"
    remind_at: str = "09:00"
    rank_at: str = "17:30"
    quiet_start: str = "21:00"  # no pushes from quiet_start ...
    quiet_end: str = "08:00"  # ... until quiet_end
    extra_holidays: tuple[str, ...] = ()  # YYYY-MM-DD, for years chinesecalendar does not know
    extra_workdays: tuple[str, ...] = ()  # YYYY-MM-DD make-up working days (调休)
    # tests and demos only: the clock of every process and page starts at this ISO instant
    # ("" = real time); all processes on one Redis share it (bot.runtime.shared_clock)
    fake_now: str = ""
    clock_speed: float = 1.0  # with fake_now: how many seconds pass per real second
    # mail
    smtp_url: str = ""
    # the inspection's PDFs: a CJK TrueType font file ("" = the first of bot.binder.PDF_FONTS
    # found; none found = Word files only)
    pdf_font: str = ""
    # link checks
    link_allow: tuple[str, ...] = ()  # hosts/CIDRs allowed although private
    # DingTalk
    dingtalk_app_key: str = ""
    dingtalk_app_secret: str = ""
    dingtalk_robot_code: str = ""
    dingtalk_api_base: str = "https://api.dingtalk.com"
    dingtalk_oapi_base: str = "https://oapi.dingtalk.com"
    # where a browser signs in with DingTalk (/m/signin): login.dingtalk.com/oauth2/auth
    dingtalk_login_base: str = "https://login.dingtalk.com"
    # "queue": answer a callback at once with an empty body and reply through its sessionWebhook
    # from a worker (answer fast: https://open.dingtalk.com/document/orgapp/receive-message);
    # "inline": reply in the response body. Without a valid sessionWebhook a callback is always
    # answered inline.
    dingtalk_reply: str = "queue"
    # Intranet mode (bot/stream/): "stream" receives over DingTalk's Stream WebSocket instead of
    # POST /hooks/dingtalk; the gateway address is a setting so tests point it at a local fake.
    dingtalk_mode: str = "http"
    dingtalk_stream_url: str = "https://api.dingtalk.com/v1.0/gateway/connections/open"
    # WeCom
    wecom_token: str = ""
    wecom_aes_key: str = ""
    wecom_receive_id: str = ""  # smart bot receiveid ("" for internal bots)
    wecom_app_token: str = ""
    wecom_app_aes_key: str = ""
    # the app's Secret: only to fetch the pictures and files sent to the app (media/get)
    wecom_app_secret: str = ""
    wecom_corp_id: str = ""
    wecom_api_base: str = "https://qyapi.weixin.qq.com"
    # the self-built app's AgentId, sent with a WeCom sign-in (/m/signin) as advised
    wecom_agent_id: str = ""
    # where a browser signs in with WeCom (/m/signin): open.weixin.qq.com/connect/oauth2/authorize
    wecom_authorize_base: str = "https://open.weixin.qq.com"
    # Feishu (Lark): a self-built app with the bot capability, events over HTTP
    feishu_app_id: str = ""
    feishu_app_secret: str = ""
    feishu_verification_token: str = ""
    feishu_encrypt_key: str = ""  # optional in Feishu, but without it events are unsigned
    feishu_api_base: str = "https://open.feishu.cn"  # Lark: https://open.larksuite.com
    # where a browser signs in with Feishu (/m/signin); Lark: https://accounts.larksuite.com
    feishu_authorize_base: str = "https://accounts.feishu.cn"
    # "longconn": the smart bot's long connection (bot/stream/), authenticated by bot id + secret
    wecom_mode: str = "http"
    wecom_longconn_url: str = "wss://openws.work.weixin.qq.com"
    wecom_bot_id: str = ""
    wecom_bot_secret: str = ""
    # Feishu: "ws" receives events over Feishu's WebSocket (bot/stream/); the URL is where the
    # client asks for its WebSocket address
    feishu_mode: str = "http"
    feishu_ws_url: str = "https://open.feishu.cn/callback/ws/endpoint"
    # limits
    max_body_bytes: int = 64 * 1024
    robot_per_minute: int = 20
    # a person's binding changes within this many seconds of an announced one are told in one
    # summary at its end (one person cannot flood a group with 绑定/解绑); 0 = tell each one
    binding_notice_s: int = 600
    # when on, 绑定 in chat asks the office, which approves or refuses it on /admin/bindings
    bind_approval: bool = False
    # after a 催办 (chat or the admin's button) a department is not reminded on demand again for
    # this many minutes; 0 = no cool-down
    remind_cooldown_min: int = 60
    # outbound delivery (bot/delivery.py); the defaults follow the vendors' limits: 20 a minute
    # per robot (https://developer.work.weixin.qq.com/document/path/91770,
    # https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages 消息发送频率限制)
    robot_window_s: float = 60.0  # the window robot_per_minute counts in (tests shrink it)
    push_timeout_s: float = 10.0  # read timeout of one outbound POST
    push_backoff_s: int = 5  # retry delays after a timeout/5xx: 1x, 6x, 24x this
    cooldown_wecom_s: int = 60  # a robot rests this long after 45009
    cooldown_dingtalk_s: int = 600  # 130101: DingTalk blocks the robot for 10 minutes
    cooldown_feishu_s: int = 60  # Feishu limits per minute; its own reset header wins when sent
    push_lease_s: int = 120  # an unfinished push whose worker vanished is re-enqueued after this
    # pushes to different robots posted at once by one drain of the outbox (threads over one
    # keep-alive connection pool per platform host); one robot's pushes still go one by one
    push_concurrency: int = 16

    @property
    def embedded_redis(self) -> bool:
        """Whether the processes use the embedded redis-server under data_dir (`make run`)."""
        return not self.redis_url and not self.redis_sentinels

    @property
    def file_max_bytes(self) -> int:
        return self.file_max_mb * 1024 * 1024

    @property
    def dingtalk_enabled(self) -> bool:
        return bool(self.dingtalk_app_secret)

    @property
    def wecom_enabled(self) -> bool:
        return bool(self.wecom_token and self.wecom_aes_key)

    @property
    def wecom_app_enabled(self) -> bool:
        return bool(self.wecom_app_token and self.wecom_app_aes_key and self.wecom_corp_id)

    @property
    def feishu_enabled(self) -> bool:
        """The app can reply and push. Over HTTP it also needs the verification token of its
        event hook; over the event WebSocket (feishu_mode "ws") the connection itself is
        authenticated by the app id and secret, and no token is asked for."""
        hooked = bool(self.feishu_verification_token) or self.feishu_mode == "ws"
        return bool(self.feishu_app_id and self.feishu_app_secret and hooked)

    @property
    def feishu_hook_enabled(self) -> bool:
        """POST /hooks/feishu is served: the app is configured with its verification token."""
        return self.feishu_enabled and bool(self.feishu_verification_token)

    @property
    def intranet_platforms(self) -> tuple[str, ...]:
        """The platforms received over a long connection (python -m bot.stream), not a hook."""
        modes = (
            ("dingtalk", self.dingtalk_mode == "stream"),
            ("wecom", self.wecom_mode == "longconn"),
            ("feishu", self.feishu_mode == "ws"),
        )
        return tuple(name for name, on in modes if on)

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict = {}
        problems: list[str] = []
        coerce = {
            "demo": _bool,
            "bind_approval": _bool,
            "log_level": lambda v: v.strip().lower(),
            "remind_at": _hhmm,
            "rank_at": _hhmm,
            "backup_at": _hhmm,
            "backup_keep": _not_negative,
            "redis_sentinels": _list,
            "redis_cluster": _bool,
            "redis_min_replicas": _not_negative,
            "quiet_start": _hhmm,
            "quiet_end": _hhmm,
            "extra_holidays": _list,
            "extra_workdays": _list,
            "link_allow": _list,
            "trusted_proxies": _list,
            "signin_platforms": lambda v: tuple(x.lower() for x in _list(v)),
            "fake_now": _instant,
            "clock_speed": _positive_float,
            "max_body_bytes": _positive_int,
            "robot_per_minute": _positive_int,
            "binding_notice_s": _not_negative,
            "remind_cooldown_min": _not_negative,
            "robot_window_s": _positive_float,
            "push_timeout_s": _positive_float,
            "push_backoff_s": _not_negative,
            "cooldown_wecom_s": _not_negative,
            "cooldown_dingtalk_s": _not_negative,
            "cooldown_feishu_s": _not_negative,
            "push_lease_s": _positive_int,
            "push_concurrency": _positive_int,
            "fill_link_days": _positive_int,
            "file_max_mb": _positive_int,
        }
        aliases = {"indicators_path": "DUBAN_INDICATORS", "org_path": "DUBAN_ORG"}
        for f in fields(cls):
            name = aliases.get(f.name, "DUBAN_" + f.name.upper())
            if f.name == "campaign_admin_passwords" or name not in env:  # read below, by prefix
                continue
            raw = env[name]
            try:
                values[f.name] = coerce.get(f.name, str)(raw)
            except (ValueError, TypeError) as e:
                problems.append(f"{name}: {e}")
        values["campaign_admin_passwords"] = tuple(
            sorted(
                (k, v)
                for k, v in env.items()
                if k.startswith(CAMPAIGN_PASSWORD_PREFIX) and k != CAMPAIGN_PASSWORD_PREFIX and v
            )
        )
        port = env.get("PORT", "")
        if "public_url" not in values and port.isdigit() and 0 < int(port) < 65536:
            # Links the bot posts lead to where the server really listens: `PORT=8301 make run`
            # (bot/run.py passes PORT to every process) serves them on 8301, not on 8000.
            values["public_url"] = f"http://127.0.0.1:{int(port)}"
        s = cls(**values)
        problems += s.problems()
        if problems:
            raise ConfigError("配置有误 / bad settings:\n  " + "\n  ".join(problems))
        return s

    def problems(self) -> list[str]:
        """Half-configured platforms and other inconsistent values."""
        out: list[str] = []
        groups = {
            "DingTalk": {
                "DUBAN_DINGTALK_APP_KEY": self.dingtalk_app_key,
                "DUBAN_DINGTALK_APP_SECRET": self.dingtalk_app_secret,
                "DUBAN_DINGTALK_ROBOT_CODE": self.dingtalk_robot_code,
            },
            "WeCom smart bot": {
                "DUBAN_WECOM_TOKEN": self.wecom_token,
                "DUBAN_WECOM_AES_KEY": self.wecom_aes_key,
            },
            "WeCom app": {
                "DUBAN_WECOM_APP_TOKEN": self.wecom_app_token,
                "DUBAN_WECOM_APP_AES_KEY": self.wecom_app_aes_key,
                "DUBAN_WECOM_CORP_ID": self.wecom_corp_id,
            },
            "Feishu": {
                "DUBAN_FEISHU_APP_ID": self.feishu_app_id,
                "DUBAN_FEISHU_APP_SECRET": self.feishu_app_secret,
            },
        }
        if self.feishu_mode != "ws":  # the HTTP event hook is checked with this token
            groups["Feishu"]["DUBAN_FEISHU_VERIFICATION_TOKEN"] = self.feishu_verification_token
        # Settings that belong to a group but may stay empty when the rest is set.
        optional = {"Feishu": self.feishu_encrypt_key}
        for platform, vals in groups.items():
            missing = [k for k, v in vals.items() if not v]
            if 0 < len(missing) < len(vals) or (optional.get(platform) and missing):
                out.append(f"{platform} is half-configured; missing: {', '.join(missing)}")
        out += self._intranet_problems(groups["DingTalk"])
        for name, key in (
            ("DUBAN_WECOM_AES_KEY", self.wecom_aes_key),
            ("DUBAN_WECOM_APP_AES_KEY", self.wecom_app_aes_key),
        ):
            if key and len(key) != 43:
                out.append(f"{name}: an EncodingAESKey has 43 characters, got {len(key)}")
        for name, days in (
            ("DUBAN_EXTRA_HOLIDAYS", self.extra_holidays),
            ("DUBAN_EXTRA_WORKDAYS", self.extra_workdays),
        ):
            for d in days:
                try:
                    date.fromisoformat(d)
                except ValueError:
                    out.append(f"{name}: not a date YYYY-MM-DD: {d!r}")
        for proxy in self.trusted_proxies:
            try:
                ip_network(proxy, strict=False)
            except ValueError:
                out.append(f"DUBAN_TRUSTED_PROXIES: not an IP address or CIDR: {proxy!r}")
        if set(self.extra_holidays) & set(self.extra_workdays):
            out.append("DUBAN_EXTRA_HOLIDAYS and DUBAN_EXTRA_WORKDAYS name the same day")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            out.append(f"DUBAN_TZ: not a time zone name such as Asia/Shanghai: {self.tz!r}")
        if self.pdf_font and not os.path.isfile(self.pdf_font):
            out.append(f"DUBAN_PDF_FONT: no such font file: {self.pdf_font!r}")
        if self.smtp_url:
            try:
                SmtpConfig.from_url(self.smtp_url)
            except ValueError as e:
                out.append(f"DUBAN_SMTP_URL: {e}")  # the URL itself holds a password
        web = ("http", "https")
        for name, url, schemes in (
            ("DUBAN_PUBLIC_URL", self.public_url, web),
            ("DUBAN_DINGTALK_API_BASE", self.dingtalk_api_base, web),
            ("DUBAN_DINGTALK_OAPI_BASE", self.dingtalk_oapi_base, web),
            ("DUBAN_WECOM_API_BASE", self.wecom_api_base, web),
            ("DUBAN_FEISHU_API_BASE", self.feishu_api_base, web),
            ("DUBAN_DINGTALK_LOGIN_BASE", self.dingtalk_login_base, web),
            ("DUBAN_WECOM_AUTHORIZE_BASE", self.wecom_authorize_base, web),
            ("DUBAN_FEISHU_AUTHORIZE_BASE", self.feishu_authorize_base, web),
            ("DUBAN_DINGTALK_STREAM_URL", self.dingtalk_stream_url, web),
            ("DUBAN_WECOM_LONGCONN_URL", self.wecom_longconn_url, ("ws", "wss")),
            ("DUBAN_FEISHU_WS_URL", self.feishu_ws_url, web),
            ("DUBAN_REDIS_URL", self.redis_url, ("redis", "rediss", "unix")),
        ):
            problem = url and _url_problem(name, url, schemes)
            if problem:
                out.append(problem)
        for address in self.redis_sentinels:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                out.append(f"DUBAN_REDIS_SENTINELS: not host:port: {address!r}")
        if self.redis_cluster and (not self.redis_url or self.redis_sentinels):
            out.append("DUBAN_REDIS_CLUSTER: needs DUBAN_REDIS_URL (one node) and no sentinels")
        if self.log_level not in LOG_LEVELS:
            out.append(f"DUBAN_LOG_LEVEL: one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        if not re.fullmatch(r"[A-Za-z0-9_]{1,32}", self.key_prefix):
            # It names the RQ queues and job ids too (bot/queue.py), which allow [A-Za-z0-9_-]
            # only; without '-' no two prefixes make the same queue name.
            out.append(f"DUBAN_KEY_PREFIX: 1 to 32 letters, digits or _, not {self.key_prefix!r}")
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", self.campaign):
            out.append(
                "DUBAN_CAMPAIGN: 1 to 40 lower-case letters, digits or '-' (not first), "
                f"not {self.campaign!r}"
            )
        if self.dingtalk_reply not in ("queue", "inline"):
            out.append(f"DUBAN_DINGTALK_REPLY: 'queue' or 'inline', not {self.dingtalk_reply!r}")
        for name, at in (("DUBAN_REMIND_AT", self.remind_at), ("DUBAN_RANK_AT", self.rank_at)):
            if _never_after_quiet(at, self.quiet_start, self.quiet_end):
                # The scheduler holds a push back in quiet hours and sends it when they end if
                # that is still the same day; these end only the next day, so it never would.
                out.append(
                    f"{name}={at} falls in the quiet hours {self.quiet_start}-{self.quiet_end} "
                    "(DUBAN_QUIET_START/DUBAN_QUIET_END), which end only the next day, "
                    "so it would never be sent"
                )
        out += self._signin_problems()
        if not self.demo and not self.secret_key and self.admin_password:
            out.append("DUBAN_SECRET_KEY is needed when DUBAN_ADMIN_PASSWORD is set")
        return out

    def _signin_problems(self) -> list[str]:
        """DUBAN_SIGNIN_PLATFORMS names known platforms, each with the app credentials its
        sign-in needs (bot/signin.py)."""
        needs = {
            "dingtalk": {
                "DUBAN_DINGTALK_APP_KEY": self.dingtalk_app_key,
                "DUBAN_DINGTALK_APP_SECRET": self.dingtalk_app_secret,
            },
            "wecom": {
                "DUBAN_WECOM_CORP_ID": self.wecom_corp_id,
                "DUBAN_WECOM_APP_SECRET": self.wecom_app_secret,
            },
            "feishu": {
                "DUBAN_FEISHU_APP_ID": self.feishu_app_id,
                "DUBAN_FEISHU_APP_SECRET": self.feishu_app_secret,
            },
        }
        out = []
        for platform in self.signin_platforms:
            if platform not in needs:
                out.append(f"DUBAN_SIGNIN_PLATFORMS: {platform!r} is not one of {', '.join(needs)}")
                continue
            missing = [k for k, v in needs[platform].items() if not v]
            if missing:
                out.append(f"DUBAN_SIGNIN_PLATFORMS={platform} needs {', '.join(missing)}")
        return out

    def _intranet_problems(self, dingtalk: dict[str, str]) -> list[str]:
        """An unknown mode, a mode without its credentials, or credentials that only a mode uses
        without it."""
        out: list[str] = []
        for name, value, allowed in (
            ("DUBAN_DINGTALK_MODE", self.dingtalk_mode, ("http", "stream")),
            ("DUBAN_WECOM_MODE", self.wecom_mode, ("http", "longconn")),
            ("DUBAN_FEISHU_MODE", self.feishu_mode, ("http", "ws")),
        ):
            if value not in allowed:
                out.append(f"{name}: {' or '.join(map(repr, allowed))}, not {value!r}")
        if self.dingtalk_mode == "stream" and not all(dingtalk.values()):
            out.append(f"DUBAN_DINGTALK_MODE=stream needs {', '.join(dingtalk)}")
        bot = {
            "DUBAN_WECOM_BOT_ID": self.wecom_bot_id,
            "DUBAN_WECOM_BOT_SECRET": self.wecom_bot_secret,
        }
        if self.wecom_mode == "longconn" and not all(bot.values()):
            missing = ", ".join(k for k, v in bot.items() if not v)
            out.append(f"DUBAN_WECOM_MODE=longconn needs {missing}")
        elif self.wecom_mode != "longconn" and any(bot.values()):
            out.append(
                "DUBAN_WECOM_BOT_ID and DUBAN_WECOM_BOT_SECRET are for the long connection only:"
                " set DUBAN_WECOM_MODE=longconn, or leave them empty"
            )
        # Over the WebSocket the app id and secret are all Feishu asks (no verification token).
        feishu = {
            "DUBAN_FEISHU_APP_ID": self.feishu_app_id,
            "DUBAN_FEISHU_APP_SECRET": self.feishu_app_secret,
        }
        if self.feishu_mode == "ws" and not all(feishu.values()):
            out.append(
                f"DUBAN_FEISHU_MODE=ws needs {', '.join(k for k, v in feishu.items() if not v)}"
            )
        return out

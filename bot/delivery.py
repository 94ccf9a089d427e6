"""Outbound governor: drains the outbox and posts its pushes (robots in parallel lanes; a push
that must wait continues as an RQ push job), renders each push in its platform's dialect and
byte limits, keeps every robot within one shared budget, and turns each answer into
sent / cool down and re-queue / dead letter / retry. The vendors' limits and error codes are
described, with their documents, in bot/platforms/README.md.

Worker-side: no Flask. Redis only through RedisStore; the RQ queue is passed in.

Exactly once, and where it cannot be
------------------------------------
A push is one (outbox entry, chat target); its message is rendered into numbered parts, and every
part has a marker in Redis that moves through three states, each change one Lua step:

    (none) --claim--> "sending:<token>:<deadline>" --ok--> "sent"      (kept 8 days)
                                         |--definite failure--> (none)  (may be tried again)
                                         '--deadline passed, found by another run--> "uncertain"

The claim is taken in the same script that takes the robot's budget slot and checks its
cooldown, immediately before the POST. Hence:

- A retried, duplicated or re-enqueued job never posts a part twice: "sent" is skipped, and a
  live claim ("busy") makes the second job wait until the first one has finished.
- A worker that dies before claiming a part leaves no marker: the part is posted later by
  whoever resumes the push (the lease sweep below, or RQ's own retry of the abandoned job).
- A worker that dies *after* claiming, i.e. while its POST is in flight, leaves a claim whose
  deadline (connect + read timeout + margin) passes. Whether the platform took that request
  cannot be known: neither WeCom's nor DingTalk's send API has an idempotency key. We do not
  re-post it automatically (the request had almost surely left; most deaths land while waiting
  for the answer, or between the answer and the "sent" write). The part is marked "uncertain"
  and put on the dead-letter list, where the office sees it and can send it again by hand. So a
  worker killed mid-push gives exactly one delivery of each part, at the price of asking a human
  in the one case nobody can decide.
- A *live* worker whose POST left but got no answer within the read timeout (or whose
  connection broke after the request was written) is in the same position as a dead one: the
  platform may have shown the message. Neither platform documents how long an accepted send may
  take to answer, so no timeout can rule this out: the part is marked "uncertain" and listed for
  the office, never posted again by itself. Only a failure that proves the request did not get
  through is retried by RQ with backoff: the connection was never made, HTTP 5xx or 429, or an
  errcode that says the message was refused (busy, unknown).

Each unfinished push also holds a lease (its job arguments and a deadline) in Redis; a drain
that posts pushes itself renews their leases while they wait and run (Pusher). The drain job
sweeps expired leases and re-enqueues those pushes, so a push whose worker (or drain) vanished
resumes within `push_lease_s` instead of waiting for RQ to notice the abandoned job.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import re
import socket
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from rq import Callback, Queue, Retry

from bot import http11
from bot.config import Settings
from bot.messages import ChatTarget, Notice, mention_parts
from bot.org import Org, OrgError
from bot.platforms import registry as platform_registry
from bot.platforms.base import (
    Answer,
    Route,
    Sender,
    SendFailed,
    TokenUnavailable,
    encode_json,
    robot_key,
    webhook_answer,
)
from bot.queue import PUSH_JOB as _PUSH_JOB
from bot.queue import URGENT_KINDS, job_key, queue_kind_for, queue_name
from bot.records import Begin
from bot.store import RedisStore

log = logging.getLogger(__name__)

GROUP = "delivery"  # the outbox stream's consumer group
DRAIN_JOB = "bot.delivery_jobs.drain_outbox"
PUSH_JOB = _PUSH_JOB  # on the urgent queue for review notices and replies (bot.queue)
PUSH_FAILURE = "bot.delivery_jobs.on_push_failure"

MARKER_TTL_S = 8 * 86400  # a "sent" part is remembered longer than any retry or redelivery
STALE_NOTICE_S = 86400  # an outbox entry older than this is acknowledged without pushing
CLAIM_MARGIN_S = 2.0  # a claim outlives the POST's connect + read timeouts by this much
SLEEP_WAIT_MS = 1500  # a budget wait up to this is slept in the job; longer ones re-enqueue
DRAIN_DEBOUNCE_MS = 2000
# Replies through a message's sessionWebhook answer the user's own message: DingTalk documents no
# rate limit there (https://open.dingtalk.com/document/orgapp/receive-message), unlike the
# 20/min of a robot's pushes, so each chat gets a generous budget of its own, a guard rather than a pace. A rate-limit answer still cools it down.
SESSION_PER_MINUTE = 120
URGENT_RESERVE_SHARE = 4  # a quarter of a robot's budget (5 of 20 a minute) waits for them
DRAIN_RECLAIM_MS = 60_000  # outbox entries a drainer read but never acked are taken after this
KEEP_ALIVE_MIN = 16  # connections kept per host at least: the answering consumer's lanes
# A drain posts pushes itself for this long (RQ's job timeout is 180 s; a POST started before
# it ends takes at most the connect and read timeouts); what it has not started by then goes
# to push jobs, so a drain never holds the urgent queue for long.
DRAIN_PUSH_S = 60.0
DRAIN_POLL_S = 0.5  # while its lanes work, a drain looks for new outbox entries this often


class DeliveryRetry(Exception):
    """A transient failure (timeout, 5xx, busy, unknown errcode): RQ retries with backoff."""


# --- targets and routes -------------------------------------------------------------------


# The address fields of the built-in platforms, in the order the fingerprints of pushes already
# in the outbox and in leases were made of (before each platform declared its own fields): a
# target made only of these keeps that fingerprint, so an upgrade finds its pushes' targets.
FP_FIELDS = ("conversation_id", "chat_id", "webhook", "webhook_key")


def target_fp(target: ChatTarget) -> str:
    """A short, stable id of a chat target that reveals none of its keys or tokens."""
    named = [(k, v) for k, v in target.fields if k != "secret"]
    if all(k in FP_FIELDS for k, _ in named):
        raw = "|".join((target.platform, *(target.get(k) for k in FP_FIELDS)))
    else:  # a platform with fields of its own
        raw = "|".join((target.platform, *(f"{k}={v}" for k, v in named)))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


# Route, Answer and robot_key are the platforms' contract (bot/platforms/base.py); delivery
# names them for its callers.
__all__ = ["Answer", "Route", "robot_key"]


def sender_of(platform: str) -> Sender:
    """The sending side of a chat's or a message's platform; ValueError for one nobody declared."""
    spec = platform_registry.sender_for(platform)
    if spec is None:
        raise ValueError(f"no platform sends to {platform!r} chats")
    return spec


def route_for(settings: Settings, target: ChatTarget) -> Route | None:
    """The push route of a configured chat, as its platform builds it; None when it has no
    send-capable address (e.g. a chat id a bot can only answer in) or is the sandbox."""
    spec = platform_registry.sender_for(target.platform)
    return spec.route(settings, target) if spec is not None else None


def session_route(url: str, expires_at_ms: int, chat: str, platform: str = "dingtalk") -> Route:
    """The route of a reply to a user's own message (its platform's reply endpoint), paced per
    chat; `platform` is the message's (a spec written before it was stored names none)."""
    return sender_of(platform).reply_route(url, expires_at_ms, chat)


def mentions_on(family: str, mentions: Sequence[str]) -> list[str]:
    """The mentions a route of `family` can carry, as the platform's bare ids. Another platform's
    ids are dropped (they would show as stray text, or @ a stranger), and so are ids the
    platform cannot @ (Sender.can_mention: e.g. an encrypted sender id)."""
    spec = platform_registry.outbound(family)
    out = []
    for m in mentions:
        platform, user_id = mention_parts(m)
        if platform and platform not in spec.mentionable:
            continue
        if not spec.can_mention(user_id):
            continue
        out.append(user_id)
    return out


def bodies_for(route: Route, text: str, mentions: Sequence[str], app_id: str = "") -> list[dict]:
    """The request bodies of one push, split into numbered parts within the platform's limit;
    mentions (those the route's platform knows) ride on the first part. `app_id`: the sending
    app's id for a route built by hand (route_for puts it in the route)."""
    if app_id and not route.app_id:
        route = replace(route, app_id=app_id)
    mentions = mentions_on(route.family, mentions)
    return platform_registry.outbound(route.family).bodies(route, text, mentions)


# --- the context of a worker process ----------------------------------------------------


class KeepAliveSession(requests.Session):
    """A requests.Session that reads the environment once per platform host, not on every
    POST. requests looks up the proxy variables (and NO_PROXY), the CA bundle variables and
    ~/.netrc for each request (https://requests.readthedocs.io/en/latest/user/advanced/#proxies),
    a good part of a reply's CPU; a worker's environment does not change while it runs. Its
    connection pool keeps the connections to each host alive between posts (urllib3), up to
    `maxsize` of them per host, so as many threads as that post at once, each over a connection
    kept from its last post (urllib3's own default keeps one per host, requests' ten: threads
    beyond it would open, and throw away, a connection per post). Thread-safe: what it caches
    is written whole, and a race only computes the same value twice."""

    def __init__(self, maxsize: int = 16) -> None:
        super().__init__()
        self.maxsize = maxsize
        self._env: dict[tuple[str, str], tuple[dict, Any]] = {}
        self._netrc: dict[str, Any] = {}
        self._pools: dict[str, urllib3.PoolManager] = {}  # by CA bundle (see _pool)
        self._direct: dict[tuple[str, str], str] = {}  # host -> its CA bundle; "": via requests
        self._lean: dict[tuple, http11.Pool] = {}  # (scheme, host, port, CA bundle) -> pool
        for scheme in ("https://", "http://"):  # the path through requests (a proxy, netrc)
            self.mount(scheme, requests.adapters.HTTPAdapter(pool_maxsize=maxsize))

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if proxies or stream is not None or verify is not None or cert is not None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        u = urlsplit(url)  # not urllib3's parse_url: it percent-encodes a signed query char by char
        key = (u.scheme, u.netloc.lower())
        if key not in self._env:
            got = super().merge_environment_settings(url, {}, None, None, None)
            self._env[key] = (got["proxies"], got["verify"])
        found_proxies, found_verify = self._env[key]
        return {"proxies": dict(found_proxies), "stream": self.stream, "verify": found_verify,
                "cert": self.cert}  # fmt: skip

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        if self.trust_env and not request.auth and not self.auth:
            # ~/.netrc once per host; a host it has nothing for gets an auth that adds nothing
            # (requests then skips its own look-up)
            request.auth = self._netrc_for(request.url)
        return super().prepare_request(request)

    def post_json(self, url: str, body: bytes, headers: dict, timeout: tuple[float, float]):
        """POST `body`: (HTTP status, the parsed JSON answer or None). Straight through a
        urllib3 pool when requests would add nothing for the host but what the pool does itself
        (no proxy, no netrc login; the CA bundle requests would use), else through requests;
        either way a failure raises requests' own exceptions, so callers tell them apart as
        before."""
        base, _, query = url.partition("?")
        scheme, netloc, plain = _url_parts(base)
        key = (scheme, netloc)
        ca = self._direct.get(key)
        if ca is None:  # once per host: whether requests would add anything (see above)
            env = self.merge_environment_settings(url, {}, None, None, None)
            ca = requests.utils.DEFAULT_CA_BUNDLE_PATH if env["verify"] is True else env["verify"]
            direct = (
                not env["proxies"].get(scheme or "http") and not env["proxies"].get("all")
                and isinstance(ca, str) and os.path.isfile(ca) and self._netrc_for(url) is _no_auth
            )  # fmt: skip
            ca = self._direct[key] = ca if direct else ""
        if not ca:
            resp = self.post(url, data=body, headers=headers, timeout=timeout)
            try:
                return resp.status_code, resp.json()
            except ValueError:
                return resp.status_code, None
        if plain and _PLAIN_QUERY.fullmatch(query):
            # The answering path's POST: a lean HTTP/1.1 request over a kept-alive connection
            # (bot/http11.py), a fraction of urllib3's CPU; the same failures, as requests'.
            host, port, path = plain
            target = f"{path}?{query}" if query else path
            pool = self._lean_pool(scheme, host, port, ca)
            try:
                status, raw = pool.post(target, body, headers, timeout)
            except http11.ConnectFailed as e:
                if e.timeout:
                    raise requests.ConnectTimeout(e) from e
                raise requests.ConnectionError(e) from e
            except http11.ReadTimedOut as e:
                raise requests.ReadTimeout(e) from e
            except ssl.SSLError as e:
                raise requests.exceptions.SSLError(e) from e
            except http11.Broken as e:
                raise requests.ConnectionError(e) from e
            try:
                return status, json.loads(raw)
            except ValueError:
                return status, None
        try:
            r = self._pool(ca).request(
                "POST", url, body=body, headers=headers, retries=False, redirect=False,
                timeout=_timeout(timeout),
            )  # fmt: skip
        except urllib3.exceptions.NewConnectionError as e:  # refused, unresolved
            raise requests.ConnectionError(e) from e
        except urllib3.exceptions.ConnectTimeoutError as e:
            raise requests.ConnectTimeout(e) from e
        except urllib3.exceptions.ReadTimeoutError as e:
            raise requests.ReadTimeout(e) from e
        except urllib3.exceptions.SSLError as e:
            raise requests.exceptions.SSLError(e) from e
        except (urllib3.exceptions.HTTPError, OSError) as e:  # reset, broken pipe ...
            raise requests.ConnectionError(e) from e
        try:
            return r.status, json.loads(r.data)
        except ValueError:
            return r.status, None

    def _lean_pool(self, scheme: str, host: str, port: int | None, ca: str) -> http11.Pool:
        port = port or (443 if scheme == "https" else 80)
        key = (scheme, host.lower(), port, ca)
        pool = self._lean.get(key)
        if pool is None:
            context = None
            if scheme == "https":  # what urllib3 would check: the CA bundle and the host name
                context = ssl.create_default_context(cafile=ca)
            pool = self._lean.setdefault(
                key, http11.Pool(scheme, host, port, self.maxsize, context)
            )
        return pool

    def connections_opened(self) -> int:
        """How many connections this session opened so far, to all hosts, either path."""
        managers = [*self._pools.values()]
        managers += [a.poolmanager for a in self.adapters.values() if hasattr(a, "poolmanager")]
        lean = sum(p.opened for p in list(self._lean.values()))
        return lean + sum(m.pools[k].num_connections for m in managers for k in m.pools.keys())

    def _pool(self, ca: str) -> urllib3.PoolManager:
        """The pool that trusts the CA bundle requests would use (certifi's, or the
        environment's REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE)."""
        if ca not in self._pools:
            self._pools[ca] = urllib3.PoolManager(
                maxsize=self.maxsize, cert_reqs="CERT_REQUIRED", ca_certs=ca
            )
        return self._pools[ca]

    def _netrc_for(self, url: str):
        host = urlsplit(url).hostname or ""
        if host not in self._netrc:
            self._netrc[host] = requests.utils.get_netrc_auth(url) or _no_auth
        return self._netrc[host]


def _no_auth(r: requests.PreparedRequest) -> requests.PreparedRequest:
    return r


# A URL urllib3 would send as written (nothing for parse_url to percent-encode): scheme, host,
# port, path and query of RFC 3986's unreserved, sub-delims, ":", "@", "/", "?" and "%".
_PLAIN_BASE = re.compile(
    r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*)?"
)
_PLAIN_QUERY = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")


@functools.lru_cache(maxsize=256)
def _url_parts(base: str) -> tuple[str, str, tuple[str, int | None, str] | None]:
    """Of a URL up to its query (kept per process: a platform's reply URLs differ only in
    their query): scheme, netloc in lowercase, and (host, port, path) when urllib3 would send
    it as written (its query too, if _PLAIN_QUERY), else None."""
    u = urlsplit(base)
    plain = None
    if _PLAIN_BASE.fullmatch(base):
        try:
            plain = (u.hostname or "", u.port, u.path or "/")
        except ValueError:  # a port out of range: urllib3 refuses it in its own words
            plain = None
    return u.scheme, u.netloc.lower(), plain


@functools.lru_cache(maxsize=16)
def _timeout(timeout: tuple[float, float]) -> urllib3.Timeout:
    return urllib3.Timeout(connect=timeout[0], read=timeout[1])


@dataclass
class Delivery:
    """What delivery needs: settings, the deployment's store (markers, leases, budgets, dead
    letters), the default campaign's org, the RQ queue and an HTTP session; `outboxes` holds
    every campaign's store (its outbox) and org (its chats). Built once per process by
    bot.runtime.build_runtime (`rt.delivery`)."""

    settings: Settings
    store: RedisStore
    org: Org
    queue: Queue
    http: KeepAliveSession = field(default_factory=KeepAliveSession)
    clock: Callable[[], float] = time.time
    outboxes: dict[str, tuple[RedisStore, Org]] = field(default_factory=dict)

    def campaigns(self) -> list[tuple[str, RedisStore, Org]]:
        """(campaign id, its store, its org) of every campaign whose outbox is drained."""
        if not self.outboxes:
            return [("", self.store, self.org)]
        return [(cid, store, org) for cid, (store, org) in self.outboxes.items()]

    def org_of(self, campaign: str) -> Org:
        """The roster whose chats a push of `campaign` goes to ("" = the default one)."""
        found = self.outboxes.get(campaign) if campaign else None
        return found[1] if found else self.org

    @property
    def connect_timeout(self) -> float:
        return min(3.05, self.settings.push_timeout_s)

    @property
    def claim_ms(self) -> int:
        s = self.settings
        return int((self.connect_timeout + s.push_timeout_s + CLAIM_MARGIN_S) * 1000)

    @property
    def window_ms(self) -> int:
        # A small guard on top of the window: the platform counts arrivals, we count slots.
        w = self.settings.robot_window_s * 1000
        return int(w + 250 + 0.02 * w)

    def cooldown_s(self, route: Route) -> float:
        return platform_registry.outbound(route.family).cooldown_s(self.settings)

    def queue_for(self, kind: str) -> Queue:
        """The RQ queue of a push of `kind`: review notices and replies go before the rest."""
        name = queue_name(self.settings.key_prefix, queue_kind_for(PUSH_JOB, kind))
        if name == self.queue.name:
            return self.queue
        return Queue(name, connection=self.queue.connection)

    @property
    def backoff(self) -> list[int]:
        b = max(1, self.settings.push_backoff_s)
        return [b, 6 * b, 24 * b]


# --- enqueueing -----------------------------------------------------------------------------


def job_base(lease_id: str) -> str:
    """The deterministic RQ job id of a push (RQ allows [A-Za-z0-9_-] only)."""
    return "push-" + hashlib.sha256(lease_id.encode("utf-8")).hexdigest()[:24]


def describe_push(spec: dict) -> str:
    """The job description RQ logs: never the text, a session URL or a target's key."""
    return f"push {spec['lease_id']} parts={spec.get('parts')} hop={spec.get('hop', 0)}"


def _push_options(ctx: Delivery, job_id: str, spec: dict, tried: int = 0) -> dict[str, Any]:
    backoff = ctx.backoff[tried:]  # the retries left after `tried` failed attempts
    return {
        "job_id": job_id,
        "description": describe_push(spec),
        "retry": Retry(max=len(backoff), interval=backoff) if backoff else None,
        "on_failure": Callback(PUSH_FAILURE),
        "failure_ttl": 7 * 86400,
        "result_ttl": 3600,
    }


def enqueue_push(
    ctx: Delivery, spec: dict, job_id: str, delay_s: float = 0.0, tried: int = 0
) -> str:
    """Record the push's lease (until it starts plus push_lease_s), then enqueue its job;
    `tried`: attempts that already failed with a retry (the job gets the retries left)."""
    until = ctx.clock() + delay_s + ctx.settings.push_lease_s
    ctx.store.delivery.lease(spec["lease_id"], json.dumps(spec, ensure_ascii=False), until)
    opts = _push_options(ctx, job_key(ctx.settings.key_prefix, job_id), spec, tried)
    queue = ctx.queue_for(spec.get("kind", ""))
    if delay_s > 0:
        job = queue.enqueue_in(timedelta(seconds=delay_s), PUSH_JOB, kwargs=spec, **opts)
    else:
        job = queue.enqueue(PUSH_JOB, kwargs=spec, **opts)
    return job.id


def _is_live(ctx: Delivery, job_id: str, kind: str) -> bool:
    job = ctx.queue_for(kind).fetch_job(job_key(ctx.settings.key_prefix, job_id))
    return job is not None and job.get_status(refresh=False) in (
        "queued",
        "deferred",
        "scheduled",
        "started",
    )


def notice_spec(entry_id: str, notice: Notice, fp: str, campaign: str = "") -> dict:
    """A push of an outbox entry to one chat; `campaign`: whose outbox and roster ("" = the
    default campaign's), named in the push id (stream ids of two outboxes may be equal)."""
    push_id = f"o:{campaign}:{entry_id}:{fp}" if campaign else f"o:{entry_id}:{fp}"
    return {
        "push_id": push_id,
        "lease_id": push_id,
        "text": notice.text,
        "mentions": list(notice.mentions),
        "kind": notice.kind,
        "department": notice.department,
        "target": fp,
        "parts": None,
        "hop": 0,
        **({"campaign": campaign} if campaign else {}),
    }


def session_spec(
    platform: str, message_id: str, url: str, expires_at_ms: int, chat: str, text: str,
    mentions: Sequence[str], parts: Sequence[int] | None,
) -> dict:  # fmt: skip
    """A reply to a callback through its sessionWebhook: the given parts (None = all)."""
    push_id = session_push_id(platform, message_id)
    return {
        "push_id": push_id,
        "lease_id": push_id,
        "text": text,
        "mentions": list(mentions),
        "kind": "reply",
        "department": "",
        "target": "",
        "parts": None if parts is None else list(parts),
        "hop": 0,
        "session_url": url,
        "session_expires_ms": expires_at_ms,
        "session_chat": chat,
        "session_platform": platform,
    }


def session_push_id(platform: str, message_id: str) -> str:
    digest = hashlib.sha256(f"{platform}:{message_id}".encode()).hexdigest()[:24]
    return f"r:{digest}"


@dataclass(frozen=True)
class FirstPart:
    """A reply's first part as claimed by the script that stored the reply (Begin): push_begin's
    state and wait for `token`, and the route's credential, fetched before the claim as for any
    part (_claim_and_post)."""

    credential: str
    token: str
    state: str
    wait_ms: int


def reply_claim(
    ctx: Delivery, platform: str, message_id: str, session: dict
) -> tuple[Begin, str] | None:
    """What the answering consumer asks of the command's finish (bot/inbox.py): the claim of its
    reply's first part (Begin), taken in that script instead of in a round trip of its own
    before the POST, and the route's credential, fetched first. None when no credential can be
    had now: the reply's parts are then claimed as any push's (run_push says why)."""
    route = session_route(session["url"], int(session["expires_at_ms"]), session["chat"], platform)
    try:
        credential = platform_registry.outbound(route.family).credential(Wire(ctx), route)
    except TokenUnavailable:
        return None
    keys = ctx.store.delivery.begin_keys(session_push_id(platform, message_id), 0, route.robot)
    begin = Begin(keys, uuid.uuid4().hex, ctx.claim_ms, budget_limit(ctx.settings, route, "reply"),
                  ctx.window_ms, MARKER_TTL_S)  # fmt: skip
    return begin, credential


def queue_session_reply(store: RedisStore, enqueue: Callable[..., str], spec: dict, lease_s: int):
    """Enqueue the later parts of a long DingTalk reply to its sessionWebhook (web side)."""
    store.delivery.lease(
        spec["lease_id"], json.dumps(spec, ensure_ascii=False), time.time() + lease_s
    )
    return enqueue(
        PUSH_JOB, job_id=job_base(spec["lease_id"]), retries=3, on_failure=Callback(PUSH_FAILURE),
        description=describe_push(spec), **spec,
    )  # fmt: skip


def request_drain(store: RedisStore, enqueue: Callable[..., str]) -> bool:
    """After a callback: if the outbox has unread entries, enqueue one drain (debounced)."""
    if not store.outbox.request_drain(GROUP, DRAIN_DEBOUNCE_MS):
        return False
    enqueue(DRAIN_JOB, retries=0, on_failure=None)
    return True


# --- draining the outbox --------------------------------------------------------------------


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def targets_of(org: Org, department: str) -> tuple[ChatTarget, ...]:
    return org.admin_chats if department == "" else org.chats_of(department)


def drain_outbox(ctx: Delivery, consumer: str | None = None, max_entries: int = 2000) -> dict:
    """Push new outbox entries, one push per (entry, target), then acknowledge them.

    Each batch's pushes are leased (one round trip) before the batch is acknowledged, and then
    posted by this drain itself, pushes to different robots at once (Pusher: push_concurrency
    lanes over the context's keep-alive pool), each robot's in order. So a drainer that dies
    leaves either the entry pending (the next drain claims it, XAUTOCLAIM, and leases the same
    deterministic push ids again, which the part markers make harmless) or leases that run out
    and are resumed as push jobs by the sweep below. A push that must wait (the robot's budget,
    its cooldown, a retry's backoff) continues as a push job. In demo mode, or for a department
    without chats, the entry is acknowledged without pushing: it stays in the stream, where the
    sandbox shows it. Also re-enqueues pushes whose lease expired.
    """
    store, settings = ctx.store, ctx.settings
    consumer = consumer or consumer_name()
    default = settings.campaign
    outboxes = [(cid if cid != default else "", s, org) for cid, s, org in ctx.campaigns()]
    for _, outbox_store, _ in outboxes:
        outbox_store.outbox.clear_drain_request()  # notices written from now on: a new drain
        outbox_store.outbox.ensure_group(GROUP)
    counts = {"entries": 0, "pushes": 0, "skipped": 0, "resumed": 0, "dead": 0}
    now = ctx.clock()
    for lease_id, raw in store.delivery.claim_expired(now, settings.push_lease_s):
        spec = json.loads(raw)
        enqueue_push(ctx, spec, f"{job_base(lease_id)}-s{int(now * 1000)}")
        counts["resumed"] += 1
        log.warning("push %s resumed after its lease expired", spec.get("push_id"))
    with Pusher(ctx) as pusher:
        while counts["entries"] < max_entries and not pusher.late():
            read = 0
            for campaign, outbox_store, org in outboxes:  # every campaign's outbox in turn
                rows = outbox_store.outbox.read_group(GROUP, consumer, 100, DRAIN_RECLAIM_MS)
                if not rows:
                    continue
                read += len(rows)
                batch: list[tuple[dict, str]] = []
                for entry_id, notice, _at in rows:
                    counts["entries"] += 1
                    batch += _fan_out(ctx, entry_id, notice, counts, campaign, org)
                pusher.push(batch)  # leased here, before the entries are acknowledged
                outbox_store.outbox.ack(GROUP, [r[0] for r in rows])
                counts["pushes"] += len(batch)
            if not read:
                if pusher.idle():
                    break
                # the lanes are still at work: notices written meanwhile (a review notice
                # during the 9:00 run) join them, ahead of the reminders not yet posted
                pusher.wait(DRAIN_POLL_S)
    for outcome, n in pusher.outcomes.items():  # sent, deferred, retry, handed, dead
        counts[outcome] = counts.get(outcome, 0) + n
    return counts


def _fan_out(
    ctx: Delivery, entry_id: str, notice: Notice, counts: dict, campaign: str = "",
    org: Org | None = None,
) -> list[tuple[dict, str]]:  # fmt: skip
    """The pushes of one outbox entry of `campaign` ("" = the default one): (spec, robot) for
    each chat target of its roster (`org`) with a route."""
    if ctx.settings.demo:
        counts["skipped"] += 1
        return []
    created_ms = int(entry_id.split("-")[0])
    if created_ms < (ctx.clock() - STALE_NOTICE_S) * 1000:
        log.warning("outbox entry %s is older than a day; not pushed", entry_id)
        counts["skipped"] += 1
        return []
    try:
        targets = targets_of(org or ctx.org, notice.department)
    except OrgError:
        log.warning("outbox entry %s names an unknown department; not pushed", entry_id)
        counts["skipped"] += 1
        return []
    targets = [t for t in targets if t.platform != "sandbox"]
    if not targets:
        counts["skipped"] += 1
        return []
    out = []
    for target in dict.fromkeys(targets):
        fp = target_fp(target)
        spec = notice_spec(entry_id, notice, fp, campaign)
        route = route_for(ctx.settings, target)
        if route is None:
            _dead_letter(ctx, spec, None, target.platform, "该群没有配置可推送的机器人（webhook）")
            counts["dead"] += 1
            continue
        out.append((spec, route.robot))
    return out


class Pusher:
    """A drain's pushes, posted from this process: one lane per robot (its pushes one after
    the other, in the outbox's order), at most push_concurrency lanes at once, threads sharing
    the context's keep-alive connections. A lane holding a review notice or a reply (URGENT_KINDS)
    is taken before the others, as their push jobs go on the urgent queue. Every push stays
    leased until it ends (sent, dead, or handed to a push job to wait for a budget slot, a
    cooldown or a retry's backoff): the drain's thread renews the leases while the lanes work,
    so if this process dies they run out and the sweep resumes those pushes as jobs. Pushes not
    started within `run_for_s` are handed to push jobs. A push's own steps (markers, budget,
    uncertain outcomes) are run_push's, as in a push job."""

    def __init__(self, ctx: Delivery, size: int | None = None, run_for_s: float = DRAIN_PUSH_S):
        self.ctx = ctx
        self.size = size or ctx.settings.push_concurrency
        self.deadline = time.monotonic() + run_for_s
        self.renew_s = max(0.2, ctx.settings.push_lease_s / 3)
        self.outcomes: dict[str, int] = {"sent": 0, "deferred": 0, "retry": 0, "handed": 0}
        self._lanes: dict[str, deque[dict]] = {}  # robot -> its pushes not started yet
        self._ready: deque[str] = deque()  # robots whose lane waits for a thread
        self._urgent: deque[str] = deque()  # the same, holding a review notice or a reply
        self._leased: set[str] = set()  # lease ids of pushes not ended yet
        self._cv = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._idle_threads = 0
        self._closing = False
        self._renewed = time.monotonic()

    def __enter__(self) -> Pusher:
        return self

    def __exit__(self, *exc) -> None:
        try:
            while not self.idle():
                self.wait(self.renew_s)
        finally:
            with self._cv:
                self._closing = True
                self._cv.notify_all()
            for t in self._threads:
                t.join()

    def late(self) -> bool:
        """Whether the drain's time to post pushes itself is over."""
        return time.monotonic() >= self.deadline

    def idle(self) -> bool:
        with self._cv:
            return not self._leased

    def push(self, batch: list[tuple[dict, str]]) -> None:
        """Lease `batch` ((spec, robot) pairs) in one round trip, then queue each on its
        robot's lane."""
        if not batch:
            return
        ctx = self.ctx
        until = ctx.clock() + ctx.settings.push_lease_s
        specs = {spec["lease_id"]: json.dumps(spec, ensure_ascii=False) for spec, _ in batch}
        ctx.store.delivery.lease_many(specs, until)
        with self._cv:
            self._leased.update(specs)
            for spec, robot in batch:
                urgent = spec.get("kind", "") in URGENT_KINDS
                lane = self._lanes.get(robot)
                if lane is None:
                    self._lanes[robot] = deque([spec])
                    (self._urgent if urgent else self._ready).append(robot)
                    self._wake()
                    continue
                lane.append(spec)  # the lane waits or works: it takes this one in turn
                if urgent and robot in self._ready:
                    self._ready.remove(robot)
                    self._urgent.append(robot)
        self._renew()

    def wait(self, timeout: float) -> None:
        """Up to `timeout` seconds, less when every push has ended; renews the leases."""
        with self._cv:
            self._cv.wait_for(lambda: not self._leased, timeout)
        self._renew()

    def _wake(self) -> None:
        """(under the lock) a thread for a lane that became ready: an idle one, and a new one
        while more lanes wait than threads idle and fewer than `size` run."""
        if self._idle_threads:
            self._cv.notify()
        waiting = len(self._ready) + len(self._urgent)
        if waiting > self._idle_threads and len(self._threads) < self.size:
            t = threading.Thread(target=self._work, name="push-lane", daemon=True)
            self._threads.append(t)
            t.start()

    def _renew(self) -> None:
        if time.monotonic() - self._renewed < self.renew_s:
            return
        with self._cv:
            ids = list(self._leased)
        self.ctx.store.delivery.extend_leases(
            ids, self.ctx.clock() + self.ctx.settings.push_lease_s
        )
        self._renewed = time.monotonic()

    def _work(self) -> None:
        """A lane thread: the next ready lane (urgent ones first), all of it, then the next."""
        while True:
            with self._cv:
                while not (self._urgent or self._ready or self._closing):
                    self._idle_threads += 1
                    self._cv.wait()
                    self._idle_threads -= 1
                if not (self._urgent or self._ready):
                    return
                robot = (self._urgent or self._ready).popleft()
            self._lane(robot)

    def _lane(self, robot: str) -> None:
        while True:
            with self._cv:
                lane = self._lanes[robot]
                if not lane:
                    del self._lanes[robot]
                    return
                spec = lane.popleft()
            outcome = self._one(spec)
            with self._cv:
                self._leased.discard(spec["lease_id"])
                if outcome:
                    self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
                if not self._leased:
                    self._cv.notify_all()  # the drain's wait

    def _one(self, spec: dict) -> str:
        """Post one push; its outcome, or "" when it failed unexpectedly (its lease then runs
        out and the sweep resumes it as a job)."""
        ctx, job_id = self.ctx, job_base(spec["lease_id"])
        try:
            if self.late():
                if not _is_live(ctx, job_id, spec.get("kind", "")):
                    enqueue_push(ctx, spec, job_id)
                return "handed"
            return run_push(ctx, spec, kept=True)
        except DeliveryRetry as e:
            # The platform surely did not take it: a push job tries again after the first
            # backoff, with the retries left, and lists it for the office after the last.
            log.warning("push %s: %s; retried by a push job", spec["push_id"], e)
            try:
                enqueue_push(ctx, spec, job_id, delay_s=ctx.backoff[0], tried=1)
            except Exception:
                log.exception("push %s: not re-queued; resumed when its lease ends", job_id)
                return ""
            return "retry"
        except Exception:
            log.exception("push %s failed; resumed when its lease ends", spec["push_id"])
            return ""


# --- one push ---------------------------------------------------------------------------------


def _resolve(ctx: Delivery, spec: dict) -> Route | None:
    if spec.get("session_url"):
        return session_route(
            spec["session_url"],
            int(spec.get("session_expires_ms") or 0),
            spec.get("session_chat", ""),
            spec.get("session_platform", "dingtalk"),
        )
    try:
        targets = targets_of(ctx.org_of(spec.get("campaign", "")), spec.get("department", ""))
    except OrgError:
        return None
    for t in targets:
        if target_fp(t) == spec.get("target"):
            return route_for(ctx.settings, t)
    return None


def run_push(
    ctx: Delivery,
    spec: dict,
    job_id: str = "",
    leased: bool = True,
    kept: bool = False,
    ends: list | None = None,
    first: FirstPart | None = None,
) -> str:
    """Post the parts of one push that are not sent yet; see the module docstring.

    Returns "sent", "deferred" (re-enqueued for the robot's budget or cooldown) or "dead";
    raises DeliveryRetry for RQ to retry with backoff. `leased=False` when the caller's own
    queue entry brings the push back after a crash (bot/inbox.py): no lease is kept meanwhile.
    `kept`: the caller renews the lease while the push waits and runs (Pusher), so it is not
    extended before the first part. `ends`: the caller writes the "sent" marks of the parts
    posted (push_id, part, token, ttl) itself, together with what it writes next (the answering
    consumer: with its acknowledgement of the callback, bot/inbox.py), instead of one round
    trip per part here. `first`: part 0 was claimed already, by the script that stored the
    reply (reply_claim).
    """
    store, settings = ctx.store, ctx.settings
    push_id, lease_id = spec["push_id"], spec["lease_id"]
    if leased and not kept:
        store.delivery.extend_lease(lease_id, ctx.clock() + settings.push_lease_s)
    route = _resolve(ctx, spec)
    if route is None:
        _dead_letter(ctx, spec, spec.get("parts"), "", "推送目标已不在配置中（org.yaml 已修改）")
        return "dead"
    bodies = bodies_for(route, spec["text"], spec.get("mentions") or ())
    wanted = spec.get("parts")
    todo = [p for p in (range(len(bodies)) if wanted is None else wanted) if p < len(bodies)]
    sender = platform_registry.outbound(route.family)
    if len(todo) > 1:
        # parts sent before are skipped here; a single part is checked by push_begin itself,
        # which spares a reply a round trip
        todo = unsent(store, push_id, todo)
    for i, part in enumerate(todo):
        if leased and i:
            store.delivery.extend_lease(lease_id, ctx.clock() + settings.push_lease_s)
        taken = first if part == 0 else None
        if route.expires_at_ms and route.expires_at_ms <= ctx.clock() * 1000:
            if taken is not None and taken.state == "go":  # claimed, and now never posted
                store.delivery.push_end(push_id, part, taken.token, "release", MARKER_TTL_S)
            left = unsent(store, push_id, todo[i:])
            if not left:
                break
            _dead_letter(ctx, spec, left, route.label, "会话已过期，后续分段无法补发")
            return "dead"
        try:
            state, wait_ms, token, answer = _claim_and_post(ctx, route, push_id, part, bodies[part],
                                                            spec.get("kind", ""), taken)  # fmt: skip
        except DeliveryRetry as e:  # no access token: nothing was claimed or sent
            if leased:
                store.delivery.extend_lease(
                    lease_id, ctx.clock() + max(ctx.backoff) + settings.push_lease_s
                )
            raise DeliveryRetry(f"{route.label}: {e}") from None
        if state in ("sent", "uncertain_known"):
            continue
        if state == "uncertain":
            log.warning("push %s part %d: claim of a dead worker; marked uncertain", push_id, part)
            _dead_letter(
                ctx, spec, [part], route.label,
                "投递中断（处理进程退出），无法确认是否已送达；确认群内未收到后可重试",
                status="uncertain",
            )  # fmt: skip
            continue
        if answer is None:  # busy, cooldown or budget: come back when it may pass
            _defer(ctx, spec, todo[i:], wait_ms / 1000)
            return "deferred"
        if answer.outcome == "unknown":
            store.delivery.push_end(push_id, part, token, "uncertain", MARKER_TTL_S)
            log.warning("push %s part %d: %s after sending; marked uncertain", push_id, part,
                        answer.detail)  # fmt: skip
            _dead_letter(
                ctx, spec, [part], route.label,
                f"平台 {ctx.settings.push_timeout_s:g} 秒内没有应答，无法确认是否已送达；"
                "确认群内未收到后可重试",
                status="uncertain",
            )  # fmt: skip
            continue
        if answer.outcome == "ok" and ends is not None:
            ends.append((push_id, part, token, MARKER_TTL_S))
        else:
            store.delivery.push_end(push_id, part, token,
                                    "sent" if answer.outcome == "ok" else "release",
                                    MARKER_TTL_S)  # fmt: skip
        if answer.outcome == "ok":
            continue
        if answer.outcome == "rate_limited":
            # The platform's own wait when it gave one (Feishu's reset header), else ours.
            cool = ctx.cooldown_s(route) if answer.cooldown_s is None else answer.cooldown_s
            cool = math.ceil(cool)  # whole seconds: Redis's PX takes an integer
            store.delivery.start_cooldown(route.robot, cool * 1000)
            log.warning(
                "robot cooling down %ss after %s; push %s re-queued", cool, answer.errcode, push_id
            )
            _defer(ctx, spec, todo[i:], cool)
            return "deferred"
        if answer.outcome == "permanent":
            log.error("push %s refused permanently: %s", push_id, answer.detail)
            why = sender.refusals.get(answer.errcode) or (
                f"平台拒绝了该消息（{answer.errcode or answer.detail}）"
            )
            _dead_letter(ctx, spec, todo[i:], route.label, why, answer.errcode)
            return "dead"
        # retry: keep the lease past RQ's backoff, then let RQ schedule the retry
        if leased:
            store.delivery.extend_lease(
                lease_id, ctx.clock() + max(ctx.backoff) + settings.push_lease_s
            )
        raise DeliveryRetry(f"{route.label}: {answer.detail}")
    if leased:
        store.delivery.release(lease_id)
    return "sent"


def unsent(store: RedisStore, push_id: str, parts: list[int]) -> list[int]:
    states = store.delivery.part_states(push_id, parts)
    return [p for p, s in zip(parts, states, strict=True) if s != "sent"]


def budget_limit(settings: Settings, route: Route, kind: str) -> int:
    """How many of a robot's slots in the window a push of `kind` may take: all of them for a
    review notice or a reply; the others stop URGENT_RESERVE short, so chatter (reminders,
    binding notices, rankings) can never leave a review notice waiting for the next window."""
    if route.paced_per_chat:
        return SESSION_PER_MINUTE
    limit = settings.robot_per_minute
    if kind in URGENT_KINDS:
        return limit
    return max(1, limit - max(1, limit // URGENT_RESERVE_SHARE))


def _claim_and_post(
    ctx: Delivery, route: Route, push_id: str, part: int, body: dict, kind: str,
    taken: FirstPart | None = None,
) -> tuple[str, int, str, Answer | None]:  # fmt: skip
    """Claim one part and POST it: (the claim's state, its wait in ms, the claim token, the
    platform's answer, None when nothing was posted).

    The route's access token is fetched *before* the part is claimed: a claim's deadline covers
    one POST (`claim_ms`), and getting a token may take a fetch of its own or a wait for another
    worker's, which a claim taken first could outlive; another run would then find an expired
    claim of a live worker and mark the part "uncertain" while it is still being posted. A
    refused token is dropped (by the platform's `send`) and the part claimed and posted once more with a new
    one: the refused request sent nothing. Raises DeliveryRetry when no token can be had.
    `taken`: the part was claimed already (reply_claim), that claim's outcome comes first."""
    sender, wire = platform_registry.outbound(route.family), Wire(ctx)
    for attempt in range(2):
        if taken is not None and not attempt:
            auth = taken.credential
        else:
            try:
                auth = sender.credential(wire, route)
            except TokenUnavailable as e:
                raise DeliveryRetry(str(e)) from None
        state, wait_ms, token = _begin(ctx, push_id, part, route, kind, None if attempt else taken)
        if state != "go":
            return state, wait_ms, token, None
        answer = sender.send(wire, route, body, f"{push_id}:{part}", auth)
        if answer.detail != "auth" or not auth or attempt:
            return state, wait_ms, token, answer
        ctx.store.delivery.push_end(push_id, part, token, "release", MARKER_TTL_S)
    raise AssertionError("unreachable")


def _begin(
    ctx: Delivery, push_id: str, part: int, route: Route, kind: str, taken: FirstPart | None = None
) -> tuple[str, int, str]:
    """push_begin, sleeping through short budget waits instead of re-enqueueing; `taken`: the
    outcome of a push_begin already run (reply_claim) stands for the first."""
    limit = budget_limit(ctx.settings, route, kind)
    for _ in range(8):
        if taken is not None:
            state, wait_ms, token, taken = taken.state, taken.wait_ms, taken.token, None
        else:
            token = uuid.uuid4().hex
            state, wait_ms = ctx.store.delivery.push_begin(
                push_id, part, route.robot, token, ctx.claim_ms, limit, ctx.window_ms,
                MARKER_TTL_S,
            )  # fmt: skip
        if state == "budget" and wait_ms <= SLEEP_WAIT_MS:
            time.sleep(wait_ms / 1000)
            continue
        return state, wait_ms, token
    return "budget", SLEEP_WAIT_MS, ""


def _defer(ctx: Delivery, spec: dict, parts: list[int], delay_s: float) -> None:
    hop = int(spec.get("hop") or 0) + 1
    new = {**spec, "parts": parts, "hop": hop}
    enqueue_push(ctx, new, f"{job_base(spec['lease_id'])}-h{hop}", max(delay_s, 0.05))


# --- HTTP ------------------------------------------------------------------------------------


def classify_webhook(family: str, status: int, data: Any) -> Answer:
    """A webhook's {"errcode", "errmsg"} answer, through the family's own errcode table."""
    return webhook_answer(platform_registry.outbound(family), status, data)


class Wire:
    """What a platform's `send` borrows from delivery (bot/platforms/base.Transport): the
    keep-alive HTTP session, the token cache in Redis and the delivery clock."""

    def __init__(self, ctx: Delivery) -> None:
        self.ctx = ctx
        self.settings = ctx.settings

    def now(self) -> float:
        return self.ctx.clock()

    def post(self, url: str, body: dict, headers: dict[str, str], *, with_headers: bool = False):
        ctx = self.ctx
        timeout = (ctx.connect_timeout, ctx.settings.push_timeout_s)
        try:
            if not with_headers:
                status, data = ctx.http.post_json(url, encode_json(body), headers, timeout)
                return status, data, {}
            resp = ctx.http.post(url, data=encode_json(body), headers=headers, timeout=timeout)
        except requests.RequestException as e:
            raise SendFailed(type(e).__name__, may_have_arrived(e)) from None
        try:
            data = resp.json()
        except ValueError:
            data = None
        return resp.status_code, data, resp.headers

    def token(self, name: str, fetch: Callable[[], tuple[str, int]]) -> str:
        try:
            return cached_token(self.ctx, name, fetch)
        except DeliveryRetry as e:
            raise TokenUnavailable(str(e)) from None

    def drop_token(self, name: str, token: str) -> None:
        self.ctx.store.delivery.drop_token(name, token)


def may_have_arrived(e: requests.RequestException) -> bool:
    """Whether a failed POST may still have reached the platform: a read timeout, or a
    connection that broke once the request was written. Not when the connection was never
    made (refused, unresolved, connect timeout) nor when the request could not be built."""
    if isinstance(e, requests.ConnectTimeout):
        return False
    inner = e.args[0] if e.args else None  # requests' MaxRetryError, or urllib3's own error
    reason = getattr(inner, "reason", inner)
    if isinstance(
        reason,
        (
            urllib3.exceptions.NewConnectionError,
            urllib3.exceptions.ConnectTimeoutError,
            http11.ConnectFailed,
        ),
    ):
        return False
    return isinstance(e, (requests.Timeout, requests.ConnectionError))


def cached_token(ctx: Delivery, name: str, fetch: Callable[[], tuple[str, int]]) -> str:
    """A platform's access token, cached in Redis for the seconds `fetch` says; one worker
    fetches it (under a lock) while the others wait for the cached value."""
    store = ctx.store
    token = store.delivery.cached_token(name)
    if token:
        return token
    holder = uuid.uuid4().hex
    if not store.scheduler.hold_lock(f"{name}-token", holder, 10_000):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.05)
            token = store.delivery.cached_token(name)
            if token:
                return token
        raise DeliveryRetry("access token not available")
    try:
        try:
            token, ttl_s = fetch()
        except TokenUnavailable as e:
            raise DeliveryRetry(str(e)) from None
        store.delivery.cache_token(name, token, ttl_s)
        return token
    finally:
        store.scheduler.release_lock(f"{name}-token", holder)


# --- dead letters ---------------------------------------------------------------------------


def _dead_letter(
    ctx: Delivery,
    spec: dict,
    parts: Sequence[int] | None,
    platform: str,
    error: str,
    errcode: str = "",
    status: str = "failed",
) -> str:
    first = min(parts) if parts else 0
    dead_id = f"{spec['lease_id']}:{first}" if parts else spec["lease_id"]
    record = {
        "id": dead_id,
        "spec": spec,
        "parts": list(parts) if parts is not None else None,
        "department": spec.get("department", ""),
        "platform": platform,
        "text": spec.get("text", ""),
        "error": error,
        "errcode": errcode,
        "status": status,
        "at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ctx.clock())),
    }
    ctx.store.delivery.add_dead_letter(dead_id, record)
    if status != "uncertain":
        ctx.store.delivery.release(spec["lease_id"])
    return dead_id


def push_failed(ctx: Delivery, job, exc_type: type, exc_value: BaseException) -> None:
    """RQ on_failure of a push job: after the last retry, its unsent parts become a dead letter
    (never dropped). Earlier failures are left to RQ's retry."""
    if job.retries_left:
        return
    spec = dict(job.kwargs or {})
    if "lease_id" not in spec:
        return
    if not ctx.store.delivery.has_lease(spec["lease_id"]):
        return  # finished meanwhile (e.g. resumed by the lease sweep)
    detail = str(exc_value)[:120] if isinstance(exc_value, DeliveryRetry) else exc_type.__name__
    label, sep, why = detail.partition(": ")  # run_push names the route's label first
    label, why = (label, why) if sep else ("", detail)
    _dead_letter(ctx, spec, spec.get("parts"), label, f"多次重试后仍失败（{why}）")


def dead_letters(store: RedisStore) -> list[dict]:
    """The dead-letter list for the office, newest first (no URLs or tokens)."""
    out = []
    for d in store.delivery.dead_letters():
        spec = d.get("spec") or {}
        out.append(
            {
                "id": d.get("id", ""),
                "at": d.get("at", ""),
                "department": d.get("department", ""),
                "platform": d.get("platform", ""),
                "text": d.get("text", ""),
                "error": d.get("error", ""),
                "errcode": d.get("errcode", ""),
                "status": d.get("status", "failed"),
                "parts": d.get("parts"),
                "kind": spec.get("kind", ""),
            }
        )
    return out


def retry_dead(store: RedisStore, enqueue: Callable[..., str], entry_id: str) -> str:
    """Send a dead letter again (the office's button): its parts' markers are forgotten unless
    "sent", and a new push job is enqueued. Raises LookupError if it is gone."""
    record = store.delivery.take_dead_letter(entry_id)
    if record is None:
        raise LookupError(f"no dead letter {entry_id!r}")
    spec = dict(record["spec"])
    parts = record.get("parts")
    if parts:
        store.delivery.reset_parts(spec["push_id"], parts)
    spec["parts"] = parts
    spec["hop"] = 0
    spec["lease_id"] = f"{spec['push_id']}#r{uuid.uuid4().hex[:8]}"
    store.delivery.lease(spec["lease_id"], json.dumps(spec, ensure_ascii=False), time.time() + 600)
    return enqueue(
        PUSH_JOB, job_id=job_base(spec["lease_id"]), retries=3,
        on_failure=Callback(PUSH_FAILURE), description=describe_push(spec), **spec,
    )  # fmt: skip

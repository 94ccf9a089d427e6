"""Builds the running parts from Settings: Redis, store, data files, calendar, dispatcher, queue.

Shared by the web app, the terminal chat, the workers and the scheduler, so every process sees
the same state the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import redis

from bot.catalog import Catalog, load_catalog
from bot.commands import Dispatcher, Registry, load_handlers
from bot.config import Settings
from bot.embedded import EmbeddedRedis
from bot.org import Org, build_assignments, load_org
from bot.platforms.base import platforms_for
from bot.progress import Role
from bot.queue import ANSWERS_QUEUE, make_enqueue, make_queue
from bot.records import Binding, ConflictError
from bot.store import RedisStore, utc_now
from bot.workdays import WorkCalendar

SANDBOX = "sandbox"  # the platform name of /sandbox's messages (bot/web/sandbox.py)


@dataclass
class Runtime:
    settings: Settings
    redis: redis.Redis
    store: RedisStore
    catalog: Catalog
    org: Org
    assignments: dict[tuple[int, str], Role]
    calendar: WorkCalendar
    registry: Registry
    dispatcher: Dispatcher
    embedded: EmbeddedRedis | None = None
    platforms: dict = field(default_factory=dict)
    services: dict = field(default_factory=dict)

    def assigned_departments(self) -> list[str]:
        """The departments that have at least one assignment, in org.yaml order."""
        have = {d for _, d in self.assignments}
        return [d for d in self.org.departments if d in have]

    def close(self) -> None:
        self.redis.close()
        if self.embedded:
            self.embedded.stop()


def redis_url_for(settings: Settings) -> tuple[str, EmbeddedRedis | None]:
    """The configured Redis, or the embedded one under data_dir (started here if not running)."""
    if settings.redis_url:
        return settings.redis_url, None
    server = EmbeddedRedis(settings.data_dir, unix=True)
    if server.is_running():
        return server.url, None
    server.start()
    return server.url, server


def units_by_indicator(assignments: dict[tuple[int, str], Role]) -> dict[int, dict[str, Role]]:
    out: dict[int, dict[str, Role]] = {}
    for (ind, dept), role in assignments.items():
        out.setdefault(ind, {})[dept] = role
    return out


def build_runtime(
    settings: Settings,
    clock: Callable[[], datetime] = utc_now,
    client: redis.Redis | None = None,
    enqueue: Callable | None = None,
) -> Runtime:
    catalog = load_catalog(settings.indicators_path)
    org = load_org(settings.org_path)
    assignments = build_assignments(catalog, org)
    embedded = None
    if client is None:
        url, embedded = redis_url_for(settings)
        client = redis.Redis.from_url(url, health_check_interval=30)
    store = RedisStore(client, settings.key_prefix, clock)
    platforms = platforms_for(settings)
    if not sandbox_may_act_as_office(settings, platforms, store):
        org = org.without_admins_on(SANDBOX)
    calendar = WorkCalendar.from_settings(settings)
    registry = load_handlers()
    services = {
        "assignments": assignments,
        "units_of": units_by_indicator(assignments),
        "settings": settings,
    }
    services["enqueue"] = enqueue or make_enqueue(make_queue(client))
    services["enqueue_answers"] = enqueue or make_enqueue(make_queue(client, ANSWERS_QUEUE))
    transient = (redis.ConnectionError, redis.TimeoutError)
    dispatcher = Dispatcher(registry, catalog, org, store, calendar, services, transient=transient)
    rt = Runtime(
        settings, client, store, catalog, org, assignments, calendar, registry, dispatcher,
        embedded, platforms, services,
    )  # fmt: skip
    prepare_state(rt)
    return rt


def sandbox_may_act_as_office(settings: Settings, platforms: dict, store: RedisStore) -> bool:
    """Whether the sandbox's admin persona (an org.yaml admin on platform "sandbox") acts as the
    office: only in demo mode, with no platform callback writing to the store, on a store that
    began in exactly that set-up. Anyone may pick any persona on /sandbox, so the persona must
    never reach real data. The browser's own say is never asked."""
    demo = settings.demo and not platforms
    return store.record_origin("demo" if demo else "live") == "demo" and demo


def prepare_state(rt: Runtime) -> None:
    """Create missing assignments and the members listed in org.yaml (each binding audited);
    load the callback scripts so that no first request pays a NOSCRIPT retry."""
    rt.store.load_scripts()
    rt.store.sync_assignments(rt.assignments)
    for m in rt.org.members:
        if rt.store.binding(m.platform, m.user_id) is None:
            b = Binding(m.platform, m.user_id, m.department, m.name, m.role, rt.store.now_iso())
            try:
                rt.store.set_binding(m.platform, m.user_id, None, b, "system:org.yaml")
            except ConflictError:
                pass  # another process starting at the same moment bound them first


def settings_from_env() -> Settings:
    return Settings.from_env(os.environ)

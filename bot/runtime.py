"""Builds the running parts from Settings: Redis, store, data files, calendar, dispatcher, queue.

Shared by the web app, the terminal chat, the workers and the scheduler, so every process sees
the same state the same way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from bot.campaigns import CampaignSpec, load_specs
from bot.catalog import Campaign, Catalog, load_catalog
from bot.commands import Dispatcher, Registry, load_handlers
from bot.config import Settings
from bot.datadir import secret_key
from bot.embedded import EmbeddedRedis
from bot.filestore import file_store
from bot.org import Org, build_assignments, load_org
from bot.platforms.registry import platforms_for
from bot.progress import Role
from bot.queue import make_enqueue, make_queue
from bot.records import Binding, ConflictError
from bot.schedule import make_clock
from bot.store import Connection, RedisStore, unavailable, utc_now
from bot.store.connection import connect_redis, fail_fast
from bot.workdays import WorkCalendar

SANDBOX = "sandbox"  # the platform name of /sandbox's messages (bot/web/sandbox.py)


@dataclass
class Runtime:
    settings: Settings
    redis: Connection
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
    demo_shift: int = 0  # days the demo moved the campaign's dates by (the file is unchanged)
    # shim until the campaigns branch lands: this view's campaign and its siblings
    campaign_id: str = "default"
    spec: CampaignSpec | None = None
    views: dict = field(default_factory=dict)  # campaign id -> Runtime, shared by all views

    def campaign_ids(self) -> list[str]:
        return [s.id for s in self.services["campaign_specs"]]

    @property
    def is_archived(self) -> bool:
        return bool(self.spec and self.spec.archived)

    def for_campaign(self, cid: str) -> Runtime | None:
        if cid in self.views:
            return self.views[cid]
        spec = next((s for s in self.services["campaign_specs"] if s.id == cid), None)
        if spec is None:
            return None
        settings = self.settings.with_(indicators_path=spec.indicators_path, org_path=spec.org_path)
        rt = build_runtime(settings, self.store.clock, self.redis, self.services["enqueue"], cid)
        rt.views = self.views
        self.views[cid] = rt
        return rt

    def assigned_departments(self) -> list[str]:
        """The departments that have at least one assignment, in org.yaml order."""
        cached = self.services.get("assigned_departments")
        # the pages ask several times per view: kept while the same objects hold the same sizes
        if (
            cached
            and cached[0] is self.assignments
            and cached[1] is self.org
            and cached[2] == (len(self.assignments), len(self.org.departments))
        ):
            return list(cached[3])
        have = {d for _, d in self.assignments}
        found = [d for d in self.org.departments if d in have]
        sizes = (len(self.assignments), len(self.org.departments))
        self.services["assigned_departments"] = (self.assignments, self.org, sizes, found)
        return list(found)

    def close(self) -> None:
        self.redis.close()
        if self.embedded:
            self.embedded.stop()


def connect_store(settings: Settings) -> tuple[RedisStore, EmbeddedRedis | None]:
    """The deployment's store alone, as it is (no start-up state written): for backup and
    restore, which must see a store exactly as they find it. The embedded Redis is started if
    it is not running, and returned so that the caller stops what it started."""
    client, embedded = connect_redis(settings)
    return RedisStore(client, settings.key_prefix), embedded


def units_by_indicator(assignments: dict[tuple[int, str], Role]) -> dict[int, dict[str, Role]]:
    out: dict[int, dict[str, Role]] = {}
    for (ind, dept), role in assignments.items():
        out.setdefault(ind, {})[dept] = role
    return out


def shared_clock(settings: Settings, client: Connection) -> Callable[[], datetime]:
    """The one clock of every process and page: the real one, or with DUBAN_FAKE_NOW a fake
    one anchored in Redis, so the web pages, the chat replies, the workers and the scheduler
    all read the same time (a process started later does not start its own fake day).
    The anchor stays: a restart with the same DUBAN_FAKE_NOW and DUBAN_CLOCK_SPEED goes on
    from where the clock is; another value starts afresh."""
    if not settings.fake_now:
        return utc_now
    anchor = RedisStore(client, settings.key_prefix).scheduler.clock_anchor(
        clock_name(settings), time.time()
    )
    return make_clock(settings.fake_now, settings.clock_speed, anchor)


def clock_name(settings: Settings) -> str:
    """The name a fake clock is anchored under: one per DUBAN_FAKE_NOW and speed."""
    return f"{settings.fake_now}|{settings.clock_speed}"


def demo_shift_days(settings: Settings, campaign: Campaign, today: date, store) -> int:
    """In demo mode on the real clock, the campaign's dates move by whole weeks (weekdays keep
    their place) so that today falls in the first week after the notice: deadlines ahead, an
    inspection to come, whatever day `make run` starts. Stored for a week, so every process
    moves it alike."""
    if not settings.demo or settings.fake_now:
        return 0
    weeks = max(0, (today - campaign.issued_on).days // 7)
    return store.scheduler.demo_shift(weeks * 7)


def build_runtime(
    settings: Settings,
    clock: Callable[[], datetime] | None = None,
    client: Connection | None = None,
    enqueue: Callable | None = None,
    campaign: str | None = None,
) -> Runtime:
    specs = load_specs(settings)
    spec = next(s for s in specs if s.id == (campaign or settings.campaign))
    catalog = load_catalog(settings.indicators_path)
    org = load_org(settings.org_path)
    assignments = build_assignments(catalog, org)
    embedded = None
    if client is None:
        client, embedded = connect_redis(settings, **fail_fast())
    clock = clock or shared_clock(settings, client)
    store = RedisStore(
        client, settings.key_prefix, clock, replicas=settings.redis_min_replicas, campaign=campaign
    )
    platforms = platforms_for(settings)
    if not sandbox_may_act_as_office(settings, platforms, store):
        org = org.without_admins_on(SANDBOX)
    calendar = WorkCalendar.from_settings(settings)
    shift = demo_shift_days(settings, catalog.campaign, calendar.local_today(clock()), store)
    catalog = catalog.with_campaign(catalog.campaign.shifted(shift))
    registry = load_handlers()
    services = {
        "assignments": assignments,
        "units_of": units_by_indicator(assignments),
        "settings": settings,
        # signs the fill-in page links (bot/filllinks.py): the web's session key
        "link_key": settings.secret_key or secret_key(settings.data_dir),
        # where stored files are kept (bot/filestore.py): uploads and files sent in chat
        "files": file_store(settings.file_dir, settings.data_dir),
        "campaign_specs": specs,
    }
    prefix = settings.key_prefix
    services["enqueue"] = enqueue or make_enqueue(make_queue(client, prefix), prefix)
    dispatcher = Dispatcher(
        registry, catalog, org, store, calendar, services, transient=unavailable
    )  # fmt: skip
    rt = Runtime(
        settings, client, store, catalog, org, assignments, calendar, registry, dispatcher,
        embedded, platforms, services, shift, spec.id, spec,
    )  # fmt: skip
    rt.views[spec.id] = rt
    prepare_state(rt)
    return rt


def sandbox_may_act_as_office(settings: Settings, platforms: dict, store: RedisStore) -> bool:
    """Whether the sandbox's admin persona (an org.yaml admin on platform "sandbox") acts as the
    office: only in demo mode, with no platform callback writing to the store, on a store that
    began in exactly that set-up. Anyone may pick any persona on /sandbox, so the persona must
    never reach real data. The browser's own say is never asked."""
    demo = settings.demo and not platforms
    return store.assignments.record_origin("demo" if demo else "live") == "demo" and demo


def prepare_state(rt: Runtime) -> None:
    """Create missing assignments and the members listed in org.yaml (each binding audited);
    load the callback scripts so that no first request pays a NOSCRIPT retry."""
    rt.store.load_scripts()
    rt.store.assignments.sync(rt.assignments)
    for m in rt.org.members:
        if rt.store.bindings.get(m.platform, m.user_id) is None:
            b = Binding(m.platform, m.user_id, m.department, m.name, m.role, rt.store.now_iso())
            try:
                rt.store.bindings.set(m.platform, m.user_id, None, b, "system:org.yaml")
            except ConflictError:
                pass  # another process starting at the same moment bound them first


def settings_from_env() -> Settings:
    return Settings.from_env(os.environ)

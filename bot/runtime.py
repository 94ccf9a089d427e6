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

from bot.campaigns import Campaigns, CampaignSpec, chat_campaigns, load_all
from bot.catalog import Campaign, Catalog
from bot.commands import Dispatcher, Registry, Services, load_handlers
from bot.config import Settings
from bot.datadir import secret_key
from bot.delivery import KEEP_ALIVE_MIN, Delivery, KeepAliveSession
from bot.embedded import EmbeddedRedis
from bot.filestore import file_store
from bot.migrate import ensure_layout
from bot.org import Org
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
    """One campaign's view of the running parts (the default campaign's for the object a
    process builds): its store, table, roster and dispatcher, over the connection, settings,
    platforms and delivery every view of the process shares. `for_campaign` gives another
    campaign's view, built once per process."""

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
    services: Services = field(default_factory=Services)
    demo_shift: int = 0  # days the demo moved the campaign's dates by (the file is unchanged)
    spec: CampaignSpec | None = None
    delivery: Delivery | None = None  # outbound pushes of every campaign (bot/delivery.py)
    cache: dict = field(default_factory=dict)  # what the pages keep between views
    views: dict[str, Runtime] = field(default_factory=dict, repr=False)  # every campaign's

    @property
    def campaign_id(self) -> str:
        return self.spec.id if self.spec else self.settings.campaign

    @property
    def is_archived(self) -> bool:
        return bool(self.spec and self.spec.archived)

    @property
    def title(self) -> str:
        """The campaign's name as people read it: campaign.yaml's title, else the table's."""
        return (self.spec.title if self.spec else "") or self.catalog.campaign.name

    def campaign_ids(self) -> list[str]:
        """Every campaign of the deployment, the default first, archived ones included."""
        return list(self.views) or [self.campaign_id]

    def active_campaign_ids(self) -> list[str]:
        return [c for c in self.campaign_ids() if not self.for_campaign(c).is_archived]

    def for_campaign(self, cid: str) -> Runtime | None:
        """That campaign's view (same connection, settings, platforms and delivery); None when
        the deployment has no such campaign."""
        if not self.views:
            return self if cid == self.campaign_id else None
        return self.views.get(cid)

    def assigned_departments(self) -> list[str]:
        """The departments that have at least one assignment, in org.yaml order."""
        cached = self.cache.get("assigned_departments")
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
        self.cache["assigned_departments"] = (self.assignments, self.org, sizes, found)
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
) -> Runtime:
    """Every campaign's view, once per process; returns the default campaign's. A broken
    campaign raises CampaignError (naming it, the file and the row) before Redis is touched."""
    loaded = load_all(settings)
    embedded = None
    if client is None:
        client, embedded = connect_redis(settings, **fail_fast())
    ensure_layout(settings, client)  # the one-off move into campaign keys (bot/migrate.py)
    clock = clock or shared_clock(settings, client)
    platforms = platforms_for(settings)
    calendar = WorkCalendar.from_settings(settings)
    registry = load_handlers()
    prefix = settings.key_prefix
    enqueue = enqueue or make_enqueue(make_queue(client, prefix), prefix)
    link_key = settings.secret_key or secret_key(settings.data_dir)
    files = file_store(settings.file_dir, settings.data_dir)
    deployment = RedisStore(client, prefix)  # deployment-wide state (delivery, choices)
    views: dict[str, Runtime] = {}
    for item in loaded:
        cid = item.spec.id
        store = RedisStore(
            client, prefix, clock, replicas=settings.redis_min_replicas,
            campaign=cid,
        )  # fmt: skip
        org = item.org
        if not sandbox_may_act_as_office(settings, platforms, store):
            org = org.without_admins_on(SANDBOX)
        shift = demo_shift_days(
            settings, item.catalog.campaign, calendar.local_today(clock()), store
        )
        catalog = item.catalog.with_campaign(item.catalog.campaign.shifted(shift))
        services = Services(
            settings=settings,
            enqueue=campaign_enqueue(enqueue, cid, settings.campaign),
            link_key=link_key,
            files=files,
            assignments=item.assignments,
            units_of=units_by_indicator(item.assignments),
            campaign=cid,
        )
        archived = (item.spec.title or catalog.campaign.name) if item.spec.archived else ""
        dispatcher = Dispatcher(
            registry, catalog, org, store, calendar, services, transient=unavailable,
            archived=archived,
        )  # fmt: skip
        views[cid] = Runtime(
            settings, client, store, catalog, org, item.assignments, calendar, registry,
            dispatcher, embedded if not views else None, platforms, services, shift, item.spec,
        )  # fmt: skip
    delivery = Delivery(
        settings, deployment, views[settings.campaign].org, make_queue(client, prefix),
        KeepAliveSession(max(KEEP_ALIVE_MIN, settings.push_concurrency)),
        outboxes={cid: (v.store, v.org) for cid, v in views.items()},
    )  # fmt: skip
    campaigns = Campaigns(
        specs={cid: v.spec for cid, v in views.items()},
        titles={cid: v.title for cid, v in views.items()},
        orgs={cid: v.org for cid, v in views.items()},
        chats=chat_campaigns(loaded),
        bound={cid: v.store.bindings.get for cid, v in views.items()},
        dispatchers={cid: v.dispatcher for cid, v in views.items()},
        choice=deployment.bindings.campaign_choice,
    )
    for v in views.values():
        v.views, v.delivery = views, delivery
        v.services.campaigns = campaigns
        v.dispatcher.router = campaigns if len(views) > 1 else None
        prepare_state(v)
    return views[settings.campaign]


# Jobs that act inside one campaign: a view's enqueue names its campaign in them.
CAMPAIGN_JOBS = frozenset(
    {
        "bot.jobs.send_reminders",
        "bot.jobs.send_escalations",
        "bot.jobs.send_ranking",
        "bot.jobs.send_folded_bindings",
        "bot.jobs.check_links",
        "bot.jobs.export_department",
        "bot.jobs.export_district",
        "bot.jobs.export_binder",
        "bot.jobs.export_checklist",
        "bot.jobs.build_submission",
        "bot.jobs.mail_submission",
        "bot.jobs.fetch_chat_file",
    }
)


def campaign_enqueue(enqueue: Callable[..., str], cid: str, default: str) -> Callable[..., str]:
    """`enqueue` that names campaign `cid` in the jobs acting inside one (`campaign=`); the
    deterministic job ids of a campaign other than the `default` one carry it, so the same
    department's export in the same minute of two campaigns are two jobs."""

    def for_campaign(func: str, *args, job_id: str | None = None, **kwargs) -> str:
        if func in CAMPAIGN_JOBS:
            named = kwargs.setdefault("campaign", cid)
            if job_id and named != default:
                job_id = f"{job_id}-c-{named}"
        return enqueue(func, *args, job_id=job_id, **kwargs)

    return for_campaign


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

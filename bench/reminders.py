"""Benchmark: a reminder run and a ranking run over synthetic orgs of 40, 400 and 4000
departments, measuring job time, client round trips and Redis commands (INFO commandstats,
which also counts the commands run inside Lua scripts).

    .venv/bin/python -m bench.reminders [--sizes 40,400,4000] [--per-dept 25]

Each department holds the same number of assignments, so the work per department is
constant; the ratios against the 40-department run show how cost grows with N.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from bench.procs import save_results
from bot.catalog import load_catalog
from bot.commands import Services
from bot.config import ROOT
from bot.embedded import EmbeddedRedis
from bot.org import Department, Org
from bot.progress import Material, Role, Status
from bot.records import Change
from bot.reminders import send_ranking, send_reminders
from bot.runtime import Runtime, units_by_indicator
from bot.store import RedisStore
from bot.workdays import WorkCalendar

NOW = datetime(2020, 8, 14, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, a Friday


class CountingRedis(redis.Redis):
    """Counts client round trips: each single command, each pipeline execute."""

    round_trips = 0

    def execute_command(self, *args, **options):
        CountingRedis.round_trips += 1
        return super().execute_command(*args, **options)

    def pipeline(self, transaction=True, shard_hint=None):
        pipe = super().pipeline(transaction, shard_hint)
        execute = pipe.execute

        def counted(raise_on_error: bool = True):
            CountingRedis.round_trips += 1
            return execute(raise_on_error)

        pipe.execute = counted
        return pipe


@dataclass
class BenchRuntime:
    """The parts of bot.runtime.Runtime the services use."""

    store: RedisStore
    catalog: object
    org: Org
    calendar: WorkCalendar
    assignments: dict
    services: Services = field(default_factory=Services)
    cache: dict = field(default_factory=dict)

    assigned_departments = Runtime.assigned_departments


def synthetic(n: int, per_dept: int, catalog) -> tuple[Org, dict[tuple[int, str], Role]]:
    ids = sorted(catalog.indicators)
    depts = {f"部门{i:04d}": Department(f"部门{i:04d}", tags=("部门",)) for i in range(n)}
    assignments = {}
    for k, name in enumerate(depts):
        for j in range(per_dept):
            ind = ids[(k * 7 + j) % len(ids)]
            assignments[(ind, name)] = Role.LEAD if j < 3 else Role.COOPERATE
    return Org(departments=depts, groups={}), assignments


def seed(store: RedisStore, assignments, n_dead: int = 1) -> None:
    """Per department: 40% done, some in progress with links (one dead), one returned."""
    store.assignments.sync(assignments)
    per: dict[str, list[int]] = {}
    for ind, d in assignments:
        per.setdefault(d, []).append(ind)
    dead_links = {}
    for d, inds in per.items():
        for j, ind in enumerate(inds):
            a, raw = store.assignments.get(ind, d)
            if j % 5 in (0, 1):
                after = a.changed("b", "t", status=Status.DONE, explanation="已完成")
            elif j % 5 == 2:
                url = f"https://example.gov.cn/{abs(hash(d)) % 10**8}/{ind}.html"
                after = a.changed(
                    "b", "t", status=Status.IN_PROGRESS, materials=(Material("材料", url),)
                )
                if len(dead_links) < n_dead * len(per) and j < 5:
                    dead_links[url] = {"ok": False, "status": 404, "error": "http_404"}
            elif j == 3:
                after = a.changed("b", "t", status=Status.RETURNED, reason="缺少台账")
            else:
                continue
            store.assignments.save(Change(raw, after, "bench", "seed", undo="keep", reached_at="t"))
    for url, state in dead_links.items():
        store.links.record(url, state)


def commands(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k not in ("cmdstat_info", "cmdstat_config"))


def measure(client: redis.Redis, fn) -> tuple[float, int, int, object]:
    client.config_resetstat()
    CountingRedis.round_trips = 0
    t0 = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - t0
    trips = CountingRedis.round_trips
    return elapsed, trips, commands(client), result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.reminders")
    p.add_argument("--sizes", default="40,400,4000")
    p.add_argument("--per-dept", type=int, default=25)
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    catalog = load_catalog(ROOT / "indicators.yaml")
    calendar = WorkCalendar()
    server = EmbeddedRedis(tempfile.mkdtemp(prefix="duban-bench-"), persistent=False).start()
    rows = []
    try:
        for n in sizes:
            client = CountingRedis.from_url(server.url)
            client.flushdb()
            store = RedisStore(client, "bench", lambda: NOW)
            org, assignments = synthetic(n, args.per_dept, catalog)
            t0 = time.perf_counter()
            seed(store, assignments)
            seeded = time.perf_counter() - t0
            rt = BenchRuntime(store, catalog, org, calendar, assignments)
            rt.services.units_of = units_by_indicator(assignments)
            for job, fn in (
                ("reminders", lambda rt=rt: send_reminders(rt, NOW, "bench")),
                ("ranking", lambda rt=rt: send_ranking(rt, NOW, "bench")),
            ):
                elapsed, trips, cmds, result = measure(client, fn)
                assert result.queued >= n, (job, n, result)
                rows.append((job, n, len(assignments), elapsed, trips, cmds, result.queued))
            print(f"seeded {n} departments ({len(assignments)} assignments) in {seeded:.1f}s")
            client.close()
    finally:
        server.stop()
    base = {job: r for job, n, *r in ((r[0], r[1], r) for r in rows) if n == sizes[0]}
    head = (
        f"{'job':<10}{'depts':>7}{'assign.':>9}{'time ms':>10}{'ms/dept':>9}{'trips':>7}"
        f"{'cmds':>8}{'cmds/dept':>10}{'notices':>9}{'x depts':>9}{'x time':>8}{'x cmds':>8}"
    )
    print(head)
    print("-" * len(head))
    for job, n, na, t, trips, cmds, queued in rows:
        b = base[job][0]
        print(
            f"{job:<10}{n:>7}{na:>9}{t * 1000:>10.1f}{t * 1000 / n:>9.3f}{trips:>7}{cmds:>8}"
            f"{cmds / n:>10.2f}{queued:>9}{n / b[1]:>9.0f}{t / b[3]:>8.1f}{cmds / b[5]:>8.1f}"
        )
    keys = ("job", "departments", "assignments", "seconds", "round_trips", "commands", "notices")
    save_results(
        "reminders", {"args": vars(args), "rows": [dict(zip(keys, r, strict=True)) for r in rows]}
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Server time of the office's pages (overview, review queue, matrix, one indicator, one
department) for the demo campaign and a synthetic campaign of 1,000 departments, against a bare
read of the same Redis data.

    python -m bench.admin [--sizes demo,1000] [--repeat 15] [--clock campaign|real]

For each campaign Redis is flushed, the app is built by `create_app` (which creates the
assignments) and the state is seeded as bench/reminders.py seeds it (40% done, some in progress
with links, one dead, one returned per department). The pages are requested through Flask's
test client as a logged-in admin, so the time is the app's own (routing, store reads, view
models, templates) without the HTTP server. The bare reads are what each page minimally needs
from Redis, without parsing: HGETALL of the status index for the overview and the matrix; for
the indicator page its units' assignment JSON (one HGET per unit, pipelined); for the review
queue the status index and the 已完成 assignments; for a department's page the status index (its
standing among all) and its own hash. Page and bare read alternate --repeat times; the medians
and their ratio are reported (aim: none above 10x), with the Redis commands each page sends
(INFO commandstats, scripts' inner calls included).
The app's clock is fixed at 09:00 on 14 August 2020, inside the campaign, so that every run sees
the same "today"; `--clock real` uses the real time instead (the overview's working-day counts
then walk every day since the campaign's deadlines).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import redis

from bench.procs import save_results
from bench.synthetic import write_campaign


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _commands(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    skip = ("cmdstat_info", "cmdstat_config")
    return sum(v["calls"] for k, v in stats.items() if k not in skip)


def measure_campaign(
    label: str, redis_url: str, tmp: Path, n: int | None, repeat: int, real_clock: bool
) -> list:
    from app import create_app
    from bench.reminders import NOW, seed
    from bot.config import Settings
    from bot.runtime import build_runtime

    env = {
        "DUBAN_REDIS_URL": redis_url,
        "DUBAN_KEY_PREFIX": "bench",
        "DUBAN_SECRET_KEY": "bench",
        "DUBAN_ADMIN_PASSWORD": "bench",
        "DUBAN_DATA_DIR": str(tmp),
    }
    if n is not None:
        indicators, org = write_campaign(tmp / f"campaign-{n}", n)
        env |= {"DUBAN_INDICATORS": str(indicators), "DUBAN_ORG": str(org)}
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    settings = Settings.from_env(env)
    rt = build_runtime(settings) if real_clock else build_runtime(settings, clock=lambda: NOW)
    app = create_app(runtime=rt)
    seed(rt.store, rt.assignments)
    web = app.test_client()
    # signed in as the office is (server-side sessions: a cookie alone is not enough)
    form = web.get("/admin/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    resp = web.post("/admin/login", data={"password": env["DUBAN_ADMIN_PASSWORD"], "csrf": csrf})
    assert resp.status_code == 302, ("login", resp.status_code)
    units = rt.services.units_of
    widest = max(units, key=lambda i: (len(units[i]), -i))  # the indicator with the most units
    k = rt.store.keys

    def bare_status() -> None:
        client.hgetall(k.statuses)

    def bare_indicator() -> None:
        pipe = client.pipeline(transaction=False)
        for d in units[widest]:
            pipe.hget(k.dept(d), str(widest))
        pipe.execute()

    dept = rt.assigned_departments()[0]

    def bare_department() -> None:  # the standing needs every status; the page, its own items
        pipe = client.pipeline(transaction=False)
        pipe.hgetall(k.statuses).hgetall(k.dept(dept))
        pipe.execute()

    def bare_queue() -> None:  # the queue's reads: the status index, then the waiting items
        done: dict[str, list[str]] = {}
        for f, v in client.hgetall(k.statuses).items():
            if _s(v).endswith(":done"):
                ind, _, dept = _s(f).partition("|")
                done.setdefault(dept, []).append(ind)
        pipe = client.pipeline(transaction=False)
        for d, inds in done.items():
            pipe.hmget(k.dept(d), inds)
        pipe.execute()

    pages = (
        ("overview", "/admin", bare_status, "HGETALL status"),
        ("review queue", "/admin/review", bare_queue, "HGETALL status + HMGET the 已完成"),
        ("matrix", "/admin/matrix", bare_status, "HGETALL status"),
        (f"indicator {widest}", f"/admin/indicators/{widest}", bare_indicator,
         f"HGET × {len(units[widest])} units"),
        ("department", f"/admin/departments/{quote(dept)}", bare_department,
         "HGETALL status + its own hash"),
    )  # fmt: skip
    rows = []
    for name, path, bare, bare_label in pages:
        resp = web.get(path)  # warm: templates compiled, scripts loaded
        assert resp.status_code == 200, (path, resp.status_code)
        size = len(resp.data)
        client.config_resetstat()
        web.get(path)
        cmds = _commands(client)
        page_t, bare_t = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            web.get(path)
            page_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            bare()
            bare_t.append(time.perf_counter() - t0)
        page_ms, bare_ms = statistics.median(page_t) * 1e3, statistics.median(bare_t) * 1e3
        rows.append(
            {
                "campaign": label,
                "departments": len(rt.assigned_departments()),
                "assignments": len(rt.assignments),
                "page": name,
                "path": path,
                "page_ms": page_ms,
                "bare": bare_label,
                "bare_ms": bare_ms,
                "ratio": page_ms / bare_ms,
                "bytes": size,
                "redis_commands": cmds,
            }
        )
        print(f"{label}: {name} {page_ms:.1f} ms against {bare_ms:.2f} ms", flush=True)
    rt.redis.close()
    client.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.admin")
    ap.add_argument("--sizes", default="demo,1000", help="'demo' and/or department counts")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--clock", choices=("campaign", "real"), default="campaign")
    args = ap.parse_args(argv)
    from bot.embedded import EmbeddedRedis

    tmp = Path(tempfile.mkdtemp(prefix="duban-admin-"))
    server = EmbeddedRedis(tmp / "redis", unix=True).start()  # as `make run` has it
    rows = []
    try:
        for size in args.sizes.split(","):
            n = None if size == "demo" else int(size)
            label = "demo" if n is None else f"synthetic {n}"
            rows += measure_campaign(label, server.url, tmp, n, args.repeat, args.clock == "real")
    finally:
        server.stop()
    head = (
        f"{'campaign':<15}{'depts':>6}{'assign.':>8}  {'page':<14}{'page ms':>9}{'bare ms':>9}"
        f"{'ratio':>8}{'KiB':>7}{'cmds':>6}  bare read"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['campaign']:<15}{r['departments']:>6}{r['assignments']:>8}  {r['page']:<14}"
            f"{r['page_ms']:>9.1f}{r['bare_ms']:>9.2f}{r['ratio']:>7.0f}x{r['bytes'] / 1024:>7.0f}"
            f"{r['redis_commands']:>6}  {r['bare']}"
        )
    worst = max(rows, key=lambda r: r["ratio"])
    print(f"worst: {worst['campaign']} {worst['page']} at {worst['ratio']:.0f}x (aim: ≤ 10x)")
    save_results("admin", {"args": vars(args), "rows": rows})
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

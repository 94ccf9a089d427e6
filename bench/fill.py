"""The fill-in page's first response (/m/<token>, the item list) for the department with the most
assignments, against the office's overview (/admin) in the same run.

    python -m bench.fill [--repeat 15]

Redis is flushed, the app built by `create_app` and the state seeded as bench/admin.py seeds it
(bench/reminders.py: 40% done, some in progress with links, one returned per department). The
link is issued as 填报 issues it. Both pages are requested through Flask's test client (the app's
own time: routing, store reads, templates; no HTTP server), alternating --repeat times; medians
are reported with the bytes of each page and of the stylesheets it loads, and every address the
page refers to is checked to be this server's (the page loads nothing from elsewhere).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import redis

from bench.procs import save_results


def measure(redis_url: str, tmp: Path, repeat: int) -> dict:
    from app import create_app
    from bench.reminders import NOW, seed
    from bot import filllinks
    from bot.config import Settings
    from bot.runtime import build_runtime

    env = {
        "DUBAN_REDIS_URL": redis_url,
        "DUBAN_KEY_PREFIX": "bench",
        "DUBAN_SECRET_KEY": "bench",
        "DUBAN_ADMIN_PASSWORD": "bench",
        "DUBAN_DATA_DIR": str(tmp),
        "DUBAN_PUBLIC_URL": "https://duban.example.gov.cn",
    }
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    settings = Settings.from_env(env)
    rt = build_runtime(settings, clock=lambda: NOW)
    app = create_app(runtime=rt)
    seed(rt.store, rt.assignments)
    counts = Counter(d for _, d in rt.assignments)
    dept = max(sorted(counts), key=lambda d: counts[d])
    url = filllinks.issue(
        rt.store, rt.services.link_key, settings.public_url, settings.fill_link_days,
        ("bench", "liaison", "联络员"), dept,
    )  # fmt: skip
    fill_path = url.removeprefix(settings.public_url)
    web = app.test_client()
    form = web.get("/admin/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    resp = web.post("/admin/login", data={"password": "bench", "csrf": csrf})
    assert resp.status_code == 302, ("login", resp.status_code)

    pages = {"fill": fill_path, "overview": "/admin"}
    out = {"department": dept, "assignments": counts[dept]}
    for name, path in pages.items():
        resp = web.get(path)  # warm: templates compiled, scripts loaded
        assert resp.status_code == 200, (path, resp.status_code)
        html = resp.get_data(as_text=True)
        refs = re.findall(r'(?:src|href)="([^"]+)"', html)
        assets = [r for r in re.findall(r'<link[^>]+href="([^"]+)"', html) if "/static/" in r]
        foreign = [r for r in refs if re.match(r"(?i)(https?:)?//", r)]
        if name == "fill":
            # materials' own links are the department's web pages, not assets the page loads
            loads = re.findall(r'<(?:link|script|img)[^>]+(?:src|href)="([^"]+)"', html)
            assert not [r for r in loads if re.match(r"(?i)(https?:)?//", r)], loads
        asset_bytes = sum(len(web.get(a).data) for a in assets)
        out[name] = {
            "path": path if name != "fill" else "/m/<token>",
            "bytes": len(resp.data),
            "asset_bytes": asset_bytes,
            "outside_links": len(foreign),
        }
    times: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(repeat):
        for name, path in pages.items():
            t0 = time.perf_counter()
            web.get(path)
            times[name].append(time.perf_counter() - t0)
    for name in pages:
        out[name]["ms"] = statistics.median(times[name]) * 1e3
    rt.redis.close()
    client.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fill")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args(argv)
    from bot.embedded import EmbeddedRedis

    tmp = Path(tempfile.mkdtemp(prefix="duban-fill-"))
    server = EmbeddedRedis(tmp / "redis", unix=True).start()
    try:
        r = measure(server.url, tmp, args.repeat)
    finally:
        server.stop()
    print(f"department: {r['department']} ({r['assignments']} assignments)")
    for name in ("fill", "overview"):
        x = r[name]
        print(
            f"{name:<9} {x['path']:<12} {x['ms']:>7.1f} ms  {x['bytes'] / 1024:>6.1f} KiB page"
            f"  {x['asset_bytes'] / 1024:>5.1f} KiB styles  {x['outside_links']} outside links"
        )
    save_results("fill", {"args": vars(args), "result": r})
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

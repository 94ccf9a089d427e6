"""Every benchmark in one run and one table: each figure next to its baseline from the same run.

    python -m bench.all [--only hooks,e2e,...] [--full]      (`make bench`)

Runs each benchmark of bench/ as its own process, one after the other (they would disturb each
other's timings side by side), with parameters sized so the whole run takes minutes (`--full`
uses each benchmark's own defaults), then reads the raw results each one saved under
bench/results/ and prints one table. Every row compares Duban with a baseline measured by the
same benchmark in the same invocation; these machines are shared and noisy, so the ratio is the
figure to read, not the absolute rate. The combined table goes to bench/results/all-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable

from bench.procs import RESULTS, ROOT, save_results

# name -> (quick arguments, what the baseline is)
BENCHES: dict[str, list[str]] = {
    "commands": ["--seconds", "1"],
    "hooks": ["--seconds", "3", "--rounds", "2", "--connections", "100"],
    "e2e": ["--rates", "50,100", "--max-rate", "400", "--seconds", "3"],
    "pushes": ["--sizes", "40,400"],
    "admin": ["--sizes", "demo,1000", "--repeat", "5"],
    "stream": [
        "--rounds",
        "2",
        "--frames",
        "1500",
        "--wecom-frames",
        "300",
        "--feishu-frames",
        "1500",
    ],
    "reminders": ["--sizes", "40,400"],
    "fill": ["--repeat", "15"],
}


# The smallest sizes that still run every part: a check that the benchmarks work (the test
# suite runs it), not a measurement.
SMOKE: dict[str, list[str]] = {
    "commands": ["--seconds", "0.1"],
    "hooks": ["--seconds", "1", "--rounds", "1", "--connections", "10", "--answer", "50"],
    "e2e": ["--rates", "10", "--max-rate", "10", "--seconds", "1", "--users", "50", "--chats",
            "20"],
    "pushes": ["--sizes", "10"],
    "admin": ["--sizes", "demo", "--repeat", "1"],
    "stream": ["--rounds", "1", "--frames", "100", "--wecom-frames", "50", "--feishu-frames", "100"],
    "reminders": ["--sizes", "5,10"],
    "fill": ["--repeat", "1"],
}  # fmt: skip


def run(name: str, args: list[str]) -> dict | None:
    """Run one benchmark; its saved results, or None when it failed or saved nothing."""
    started = time.time()
    print(f"\n=== bench.{name} {' '.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", f"bench.{name}", *args], cwd=ROOT)
    if proc.returncode != 0:
        print(f"bench.{name} failed (exit {proc.returncode})", flush=True)
        return None
    saved = [p for p in RESULTS.glob(f"{name}-*.json") if p.stat().st_mtime >= started - 1]
    if not saved:
        return None
    return json.loads(max(saved, key=lambda p: p.stat().st_mtime).read_text())


Row = tuple[str, str, float, float, str]  # bench, figure, duban, baseline, unit/aim note


def rows_commands(r: dict) -> list[Row]:
    base = r["baseline_rate"]
    return [
        (
            "commands",
            f"{x['command']} ({x['round_trips']:.0f} trips)",
            x["rate"],
            base,
            "/s vs GET+SET",
        )
        for x in r["rows"]
    ]


def rows_hooks(r: dict) -> list[Row]:
    rates, p99 = r["rates"], r["p99_ms"]
    out = [("hooks", "acknowledged req/s", rates["A duban"], rates["B bare flask"], "aim ≥ 0.5x")]
    out.append(("hooks", "p99 ms", p99["A duban"], p99["B bare flask"], "lower is better"))
    return out


def rows_e2e(r: dict) -> list[Row]:
    out: list[Row] = []
    sat = r["summary"]["saturation_rate"]
    bare = sat.get("bare")
    for name, rate in sat.items():
        if name == "bare" or not bare:
            continue
        aims = r["summary"]["aims"].get(name, {})
        out.append(("e2e", f"{name}: answered/s at saturation", rate, bare, "aim ≥ 0.5x"))
        if "cpu_vs_bare" in aims:
            out.append(("e2e", f"{name}: CPU per answer", aims["cpu_vs_bare"], 1.0, "aim ≤ 2x"))
        if "p99_ms_at_half" in aims:
            out.append(("e2e", f"{name}: p99 ms at half rate", aims["p99_ms_at_half"], 250.0,
                        "vs the 250 ms aim"))  # fmt: skip
    return out


def rows_pushes(r: dict) -> list[Row]:
    cap = r["stub_capacity"].get("1") or r["stub_capacity"].get(1)
    return [
        (
            "pushes",
            f"{x['departments']} departments: pushes/s "
            f"(dup {x['duplicates']}, throttled {x['throttled']})",
            x["pushes_per_s"],
            cap,
            "vs the stub's capacity",
        )  # fmt: skip
        for x in r["rows"]
    ]


def rows_admin(r: dict) -> list[Row]:
    return [
        ("admin", f"{x['campaign']} {x['page']} ms", x["page_ms"], x["bare_ms"], "aim ≤ 10x")
        for x in r["rows"]
    ]


def rows_stream(r: dict) -> list[Row]:
    return [
        ("stream", f"{p}: frames/s", r[p]["duban_fps"], r[p]["echo_fps"], "vs bare echo")
        for p in ("dingtalk", "wecom", "feishu")
        if p in r
    ]


def rows_reminders(r: dict) -> list[Row]:
    rows = r["rows"]
    smallest = min(x["departments"] for x in rows)
    base = {x["job"]: x["seconds"] for x in rows if x["departments"] == smallest}
    return [
        (
            "reminders",
            f"{x['job']} for {x['departments']} departments, s",
            x["seconds"],
            base[x["job"]] * x["departments"] / smallest,
            f"vs {smallest} scaled linearly",
        )
        for x in rows
        if x["departments"] != smallest
    ]


def rows_fill(r: dict) -> list[Row]:
    x, base = r["result"]["fill"], r["result"]["overview"]
    dept = r["result"]["department"]
    return [
        ("fill", f"{dept} fill-in page ms", x["ms"], base["ms"], "vs the admin overview"),
        ("fill", f"{dept} fill-in page KiB", x["bytes"] / 1024, base["bytes"] / 1024,
         "vs the admin overview"),
    ]  # fmt: skip


TABLES: dict[str, Callable[[dict], list[Row]]] = {
    "commands": rows_commands,
    "hooks": rows_hooks,
    "e2e": rows_e2e,
    "pushes": rows_pushes,
    "admin": rows_admin,
    "stream": rows_stream,
    "reminders": rows_reminders,
    "fill": rows_fill,
}


def pad(text: str, width: int) -> str:
    """`text` left-aligned in `width` terminal columns (Chinese characters take two)."""
    cols = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - cols)


def print_table(rows: list[Row], failed: list[str]) -> None:
    head = f"{'benchmark':<10} {'figure':<48} {'duban':>10} {'baseline':>10} {'ratio':>8}  note"
    print("\n" + head)
    print("-" * len(head))
    for bench, figure, value, base, note in rows:
        ratio = value / base if base else float("nan")
        print(f"{bench:<10} {pad(figure, 48)} {value:>10.2f} {base:>10.2f} {ratio:>7.2f}x  {note}")
    for name in failed:
        print(f"{name:<10} (failed or saved no results: see its output above)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.all")
    ap.add_argument("--only", default=",".join(BENCHES), help="comma-separated benchmarks")
    ap.add_argument("--full", action="store_true", help="each benchmark's own default sizes")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: check that all of them run")
    args = ap.parse_args(argv)
    sizes = SMOKE if args.smoke else BENCHES
    rows: list[Row] = []
    failed: list[str] = []
    for name in args.only.split(","):
        result = run(name, [] if args.full else sizes[name])
        if result is None:
            failed.append(name)
            continue
        rows += TABLES[name](result)
    print_table(rows, failed)
    save_results("all", {"rows": rows, "failed": failed})
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

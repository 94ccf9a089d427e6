"""A worker under cProfile, for `python -m bench.e2e --profile` and `bench.pushes --profile`.

    python -m bench.profile_worker --queue answers --out DIR
    python -m bench.profile_worker --queue bench --out DIR

`--queue answers` runs the answering consumer as `python -m bot.worker --queue answers` does
(bot.worker.answer) under one profiler timing its main thread's CPU (time.thread_time), written
to DIR/consumer-<pid>.prof when it stops (SIGTERM), and one in each lane thread (a batch of
several people's messages is answered there), DIR/consumer-<pid>-lane<n>.prof; the report adds
them up, so every answered command is counted at any rate. Any other queue starts like `python -m
bot.worker` (the same runtime warm-up, bot.worker._warm, and the same RQ Worker), with two
profilers: one over the worker's own loop (dequeue, fork, wait, heartbeats), written to
DIR/parent-<pid>.prof when it stops, and one in every forked work horse from its first step to
its os._exit, written to DIR/horse-<pid>.prof, with one more for each push lane a drain runs in
a thread (DIR/horse-<pid>-lane<n>.prof); each counts its own thread's CPU (time.thread_time).
`report(DIR)` prints where the CPU goes per
answered command (or per push).
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profile_worker")
    ap.add_argument("--queue", action="append", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")

    import redis
    from rq import Queue, Worker

    from bot.config import Settings
    from bot.store.connection import redis_url_for
    from bot.worker import _warm

    class ProfilingWorker(Worker):
        def main_work_horse(self, job, queue):
            from bot import delivery

            prof = cProfile.Profile(time.thread_time)
            lanes: list[cProfile.Profile] = []
            exit_ = os._exit
            lane_ = delivery.Pusher._lane

            def profiled_lane(pusher, robot):  # a drain's push lane, in a thread of its own
                p = cProfile.Profile(time.thread_time)
                lanes.append(p)
                p.enable()
                try:
                    return lane_(pusher, robot)
                finally:
                    p.disable()

            def dump_then_exit(code: int) -> None:
                prof.disable()
                pid = os.getpid()
                prof.dump_stats(out / f"horse-{pid}.prof")
                for i, p in enumerate(lanes):
                    p.dump_stats(out / f"horse-{pid}-lane{i}.prof")
                exit_(code)

            os._exit = dump_then_exit  # the horse only: RQ leaves it through os._exit
            delivery.Pusher._lane = profiled_lane
            prof.enable()
            super().main_work_horse(job, queue)

    settings = Settings.from_env()
    if args.queue == ["answers"]:
        import threading

        from bot import inbox
        from bot.worker import answer

        # A batch of several people's messages is answered in the lanes' threads: each lane
        # thread gets a profiler of its own (its own thread's CPU), on around each lane's work.
        main_thread, lane_profs = threading.get_ident(), {}
        lane_ = inbox._answer_lane

        def profiled_lane(*a, **k):
            if threading.get_ident() == main_thread:
                return lane_(*a, **k)
            p = lane_profs.setdefault(threading.get_ident(), cProfile.Profile(time.thread_time))
            p.enable()
            try:
                return lane_(*a, **k)
            finally:
                p.disable()

        inbox._answer_lane = profiled_lane
        prof = cProfile.Profile(time.thread_time)
        prof.enable()
        try:
            answer(settings, "INFO")
        finally:
            prof.disable()
            pid = os.getpid()
            prof.dump_stats(out / f"consumer-{pid}.prof")
            for i, p in enumerate(lane_profs.values()):
                p.dump_stats(out / f"consumer-{pid}-lane{i}.prof")
        return 0
    url, _ = redis_url_for(settings)
    conn = redis.Redis.from_url(url)
    _warm()
    worker = ProfilingWorker([Queue(q, connection=conn) for q in args.queue], connection=conn)
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    try:
        worker.work(with_scheduler=False)
    finally:
        prof.disable()
        prof.dump_stats(out / f"parent-{os.getpid()}.prof")
    return 0


# --- the report -------------------------------------------------------------------------------

# (label, file name ending, function name): cumulative CPU of these, per answered command.
HORSE_PARTS = (
    ("answering consumer, whole life", "bot/inbox.py", "consume"),
    (
        "  store.inbox.read (the last batch's acks and marks + XREADGROUP BLOCK)",
        "bot/store/inbox.py",
        "read",
    ),
    ("  store.inbox.rescue (every 2 s)", "bot/store/inbox.py", "rescue"),
    ("  store.inbox.flush (acks and marks, when no read follows)", "bot/store/inbox.py", "flush"),
    ("  inbox._answer (one command, all of it)", "bot/inbox.py", "_answer"),
    ("        parse_payload (json.loads + Incoming)", "bot/inbox.py", "parse_payload"),
    ("        Dispatcher.handle_once (the command)", "bot/commands.py", "handle_once"),
    (
        "          store.assignments.preload (binding, state, claim: one script)",
        "bot/store/assignments.py",
        "preload",
    ),
    ("          store.inbox.finish (reply stored, change saved)", "bot/store/inbox.py", "finish"),
    (
        "          compute_scores (进度/排行: counts updated by changes)",
        "bot/progress.py",
        "compute_scores",
    ),
    ("        delivery.session_spec", "bot/delivery.py", "session_spec"),
    ("        delivery.run_push (budget, markers, POST)", "bot/delivery.py", "run_push"),
    ("          bodies_for (render and split)", "bot/delivery.py", "bodies_for"),
    ("          store.delivery.part_states", "bot/store/delivery.py", "part_states"),
    (
        "          store.delivery.push_begin (budget + claim script)",
        "bot/store/delivery.py",
        "push_begin",
    ),
    ("          store.delivery.push_end (failures only)", "bot/store/delivery.py", "push_end"),
    ("          post_json (KeepAliveSession, to the stub)", "bot/delivery.py", "post_json"),
    ("            http11.Pool.post (the lean client)", "bot/http11.py", "post"),
    ("            urllib3: PoolManager.urlopen (odd URLs)", "urllib3/poolmanager.py", "urlopen"),
    ("            requests: Session.request (proxy/netrc path)", "requests/sessions.py", "request"),
    ("              urllib3 new connection (connect)", "urllib3/connection.py", "connect"),
    ("  logging", "logging/__init__.py", "handle"),
)
# The same for one push job of the reminder run (bench/pushes.py --profile), per push.
PUSH_PARTS = (
    ("work horse, whole life (its main thread)", "rq/worker/base.py", "main_work_horse"),
    ("  bot.delivery_jobs.drain_outbox (fan-out, leases, acks)", "bot/delivery.py", "drain_outbox"),
    (
        "    store.delivery.lease_many (one MULTI per 100 entries)",
        "bot/store/delivery.py",
        "lease_many",
    ),
    (
        "    store.delivery.extend_leases (the lanes' leases renewed)",
        "bot/store/delivery.py",
        "extend_leases",
    ),
    ("push lanes (threads of the drain), whole", "bot/delivery.py", "_lane"),
    (
        "  RQ prepare_job_execution (first Redis calls after fork)",
        "rq/worker/base.py",
        "prepare_job_execution",
    ),
    ("  RQ handle_job_success", "rq/worker/base.py", "handle_job_success"),
    ("  bot.delivery_jobs.push (the job itself)", "bot/delivery_jobs.py", "push"),
    ("    Delivery context (Settings.from_env)", "bot/delivery.py", "context"),
    ("    delivery.run_push", "bot/delivery.py", "run_push"),
    ("      _resolve (the department's route)", "bot/delivery.py", "_resolve"),
    ("      bodies_for (render and split)", "bot/delivery.py", "bodies_for"),
    ("      store.delivery.extend_lease / release", "bot/store/delivery.py", "extend_lease"),
    (
        "      store.delivery.push_begin (budget + claim script)",
        "bot/store/delivery.py",
        "push_begin",
    ),
    ("      _post (sign + requests.Session.post)", "bot/delivery.py", "_post"),
    (
        "        requests: proxies/netrc from the environment",
        "requests/sessions.py",
        "merge_environment_settings",
    ),
    ("        requests: adapter send (the HTTP exchange)", "requests/adapters.py", "send"),
    ("          urllib3 new connection (connect)", "urllib3/connection.py", "connect"),
    ("  imports done in the horse", "<frozen importlib._bootstrap>", "_find_and_load"),
)
PARENT_PARTS = (
    ("worker loop, whole", "rq/worker/base.py", "work"),
    ("  dequeue (BLPOP and job fetch)", "rq/worker/base.py", "dequeue_job_and_maintain_ttl"),
    ("  execute_job (fork + wait + bookkeeping)", "rq/worker/base.py", "execute_job"),
    ("    os.fork (parent side)", "~", "<built-in method posix.fork>"),
    ("    wait for the horse", "rq/worker/worker_classes.py", "monitor_work_horse"),
    ("  logging", "logging/__init__.py", "handle"),
)


def _find(stats: pstats.Stats, file_end: str, func: str) -> tuple[int, float]:
    """(calls, cumulative seconds) of the matching functions (outermost call counts only)."""
    calls, cum = 0, 0.0
    for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in stats.stats.items():
        if name == func and filename.endswith(file_end):
            calls += nc
            cum += ct
    return calls, cum


def _top(stats: pstats.Stats, n: int) -> list[tuple[float, int, str]]:
    rows = [
        (tt, nc, f"{Path(f).parent.name}/{Path(f).name}:{line} {name}")
        for (f, line, name), (_cc, nc, tt, _ct, _c) in stats.stats.items()
    ]
    return sorted(rows, reverse=True)[:n]


def _parts(stats: pstats.Stats, parts: tuple, per: int, unit: str, out: dict) -> None:
    """Print each part's cumulative CPU per `unit` (and its calls per unit) into `out`."""
    for label, f, func in parts:
        n, cum = _find(stats, f, func)
        out[label.strip()] = cum / per * 1e6
        print(f"    {label:60} {cum / per * 1e6:8.0f}   ({n / per:.2f} calls)")


def report(prof_dir: Path, top: int = 20, pushes: bool = False) -> dict:
    """Print where the answering worker's CPU went per answered command (or, with `pushes`, the
    main worker's per push); returns the figures."""
    horses = sorted(prof_dir.glob("horse-*.prof")) or sorted(prof_dir.glob("consumer-*.prof"))
    parents = sorted(prof_dir.glob("parent-*.prof"))
    consumer = horses and horses[0].name.startswith("consumer-")
    if not horses:
        print(f"no horse profiles in {prof_dir}")
        return {}
    hs = pstats.Stats(*map(str, horses))
    unit = "push" if pushes else "answered command"
    counted = ("bot/delivery.py", "run_push") if pushes else ("bot/inbox.py", "_answer")
    per = max(_find(hs, *counted)[0], 1)
    # the consumer's batches (one blocking read each) stand where the forked jobs stood
    forks = {h.name.split("-")[1].split(".")[0] for h in horses}  # lanes share their horse's pid
    jobs = _find(hs, "bot/inbox.py", "_answer_batch")[0] if consumer else len(forks)
    jobs = max(jobs, 1)
    conns, _ = _find(hs, "urllib3/connection.py", "connect")
    sends, _ = _find(hs, "redis/connection.py", "send_packed_command")
    loads, _ = _find(hs, "json/__init__.py", "loads")
    out: dict = {
        "units": per,
        "jobs": jobs,
        "per_job": per / jobs,
        "new_connections": conns / per,
        "redis_round_trips": sends / per,
        "json_loads": loads / per,
        "horse_us": {},
        "parent_us": {},
    }
    print(
        f"\n{'Main' if pushes else 'Answering'} worker under cProfile (CPU time; profiling "
        f"itself inflates Python code): {per} {unit}s in {jobs} "
        f"{'batches' if consumer else 'jobs'} ({per / jobs:.1f} per {'batch' if consumer else 'fork'})"
    )
    print(f"  per {unit}: {conns / per:.2f} new HTTP connections, {sends / per:.1f} Redis round "
          f"trips (horse side), {loads / per:.1f} json.loads")  # fmt: skip
    print(f"  {'consumer' if consumer else 'work horse'}, CPU µs per {unit} (cumulative):")
    _parts(hs, PUSH_PARTS if pushes else HORSE_PARTS, per, unit, out["horse_us"])
    if parents:
        print(f"  worker process (the parent), CPU µs per {unit}:")
        _parts(pstats.Stats(*map(str, parents)), PARENT_PARTS, per, unit, out["parent_us"])
    print(f"  top {top} functions in the horses by own CPU, µs per {unit}:")
    for tt, nc, name in _top(hs, top):
        print(f"    {tt / per * 1e6:8.1f}  {nc / per:7.2f} calls  {name}")
    return out


if __name__ == "__main__":
    sys.exit(main())

"""Two deployments on one Redis (production and a sandbox, DUBAN_KEY_PREFIX apart) never run
each other's jobs: their RQ queues, job ids and locks all carry the prefix, and each worker
(`python -m bot.worker`, a real process) works its own deployment's queues only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import redis
from rq.job import Job

from bot.config import Settings
from bot.queue import ANSWERS, make_queue
from bot.runtime import build_runtime
from bot.schedule import job_id
from bot.scheduler import build_scheduler
from tests.e2e.background import local, notices

ROOT = Path(__file__).resolve().parents[2]
SLOT = "2020-08-14-1730"
AT = local(2020, 8, 14, 17, 30).isoformat()


def settings_for(redis_url: str, prefix: str) -> dict[str, str]:
    return {"DUBAN_REDIS_URL": redis_url, "DUBAN_KEY_PREFIX": prefix, "DUBAN_DEMO": "1"}


def run_worker(env: dict[str, str], *args: str) -> None:
    """One real worker of that deployment, in burst mode: it works what its queues hold, then
    exits."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    done = subprocess.run(
        [sys.executable, "-m", "bot.worker", "--burst", *args],
        cwd=ROOT, env=base | env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_job_enqueued_by_one_deployment_is_never_run_by_the_others_worker(
    redis_url, redis_client, clock
):
    envs = {p: settings_for(redis_url, p) for p in ("prod", "sbx")}
    rts = {
        p: build_runtime(Settings.from_env(e), clock=clock, client=redis.Redis.from_url(redis_url))
        for p, e in envs.items()
    }
    # The same scheduled slot in both: the same local job id, once per deployment.
    ids = {
        p: rt.services.enqueue(
            "bot.jobs.send_ranking", job_id=job_id("rank", SLOT), slot=SLOT, now_iso=AT
        )
        for p, rt in rts.items()
    }
    assert ids["prod"] != ids["sbx"]
    for p, rt in rts.items():
        assert make_queue(rt.redis, p).job_ids == [ids[p]]

    run_worker(envs["sbx"])  # the sandbox's worker, main queue
    run_worker(envs["sbx"], "--queue", "sbx-answers")  # its answers worker (the full name)
    assert Job.fetch(ids["sbx"], connection=redis_client).get_status() == "finished"
    assert Job.fetch(ids["prod"], connection=redis_client).get_status() == "queued"
    assert notices(rts["prod"]) == []  # production's ranking was not sent by the sandbox
    assert notices(rts["sbx"], "ranking")

    run_worker(envs["prod"])
    assert Job.fetch(ids["prod"], connection=redis_client).get_status() == "finished"
    assert notices(rts["prod"], "ranking")
    assert len(notices(rts["sbx"], "ranking")) == len(notices(rts["prod"], "ranking"))
    for rt in rts.values():
        rt.redis.close()
    assert unprefixed(redis_client, rts) == []


# RQ's registries of every queue and worker on a Redis: shared by design, holding names only.
RQ_SHARED = re.compile(r"^rq:(queues|workers|worker:[0-9a-f]{32}|suspended)$")


def unprefixed(client, rts: dict) -> list[str]:
    """The keys on Redis that belong to no one deployment: not under `<prefix>:` (the store's),
    not naming one of its queues or job ids (RQ's), and not one of RQ's shared registries."""
    own = "|".join(re.escape(p) for p in rts)
    mine = re.compile(rf"^(({own}):|rq:[a-z_-]+:({own})([-:_]|$))")
    keys = sorted(k.decode() for k in client.scan_iter(count=1000))
    return [k for k in keys if not mine.match(k) and not RQ_SHARED.match(k)]


def test_queue_names_are_a_function_of_the_prefix():
    from bot.queue import KINDS, LINKS, URGENT, WORKERS, queue_name

    assert queue_name("duban") == "duban"  # what deployments before the prefix used
    assert queue_name("duban", ANSWERS) == "duban-answers"
    assert queue_name("duban", URGENT) == "duban-urgent"
    assert queue_name("duban", LINKS) == "duban-links"
    names = {queue_name(p, k) for p in ("duban", "sbx", "duban_2") for k in KINDS}
    assert len(names) == 3 * len(KINDS)
    # every queue has a worker: `--queue main` serves urgent then main
    assert sorted(k for served in WORKERS.values() for k in served) == sorted(KINDS)


def test_two_deployments_each_have_their_scheduler_leader(redis_url, redis_client):
    """The scheduler's lock is per deployment: the sandbox's scheduler does not keep
    production's from acting."""
    clients = [redis.Redis.from_url(redis_url) for _ in range(2)]
    schedulers = [
        build_scheduler(Settings.from_env(settings_for(redis_url, p)), c)
        for p, c in zip(("prod", "sbx"), clients, strict=True)
    ]
    for s in schedulers:
        s.tick()
    assert [s.is_leader for s in schedulers] == [True, True]
    for c in clients:
        c.close()


def test_two_deployments_of_two_campaigns_each_run_only_their_own_campaigns_jobs(
    redis_url, redis_client, tmp_path, clock
):
    """The same two campaigns in two deployments on one Redis: each deployment's scheduler
    enqueues the 17:30 ranking once per campaign under its own prefix; the sandbox's worker runs
    the sandbox's two and none of production's, whose campaigns stay untouched."""
    import shutil

    from bot.queue import make_enqueue as plain_enqueue
    from bot.schedule import Scheduler, schedule_table
    from bot.store import RedisStore

    campaigns = tmp_path / "campaigns"
    shutil.copytree(ROOT / "demo" / "campaigns", campaigns)
    envs = {
        p: settings_for(redis_url, p) | {"DUBAN_CAMPAIGNS_DIR": str(campaigns)}
        for p in ("prod", "sbx")
    }
    rts = {
        p: build_runtime(Settings.from_env(e), clock=clock, client=redis.Redis.from_url(redis_url))
        for p, e in envs.items()
    }
    now = local(2020, 8, 14, 17, 30)
    ids = {}
    for p, rt in rts.items():
        assert rt.campaign_ids() == ["default", "xixia-2020"]
        scheduler = Scheduler(
            RedisStore(rt.redis, p, lambda: now), rt.calendar,
            plain_enqueue(make_queue(rt.redis, p), p),
            [e for e in schedule_table(rt.settings) if e.name == "rank"], lambda: now,
            campaigns=rt.active_campaign_ids(),
        )  # fmt: skip
        scheduler.tick()
        ids[p] = make_queue(rt.redis, p).job_ids
        assert len(ids[p]) == 2 and all(i.startswith(f"{p}-") for i in ids[p])
    run_worker(envs["sbx"])
    for p, done in (("sbx", "finished"), ("prod", "queued")):
        jobs = Job.fetch_many(ids[p], connection=redis_client)
        assert sorted(j.kwargs["campaign"] for j in jobs) == ["default", "xixia-2020"]
        assert [j.get_status() for j in jobs] == [done, done]
    for cid in ("default", "xixia-2020"):
        assert notices(rts["sbx"].for_campaign(cid), "ranking")
        assert notices(rts["prod"].for_campaign(cid)) == []
    for rt in rts.values():
        rt.redis.close()
    assert unprefixed(redis_client, rts) == []

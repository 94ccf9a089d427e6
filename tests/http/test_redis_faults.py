"""Callbacks when Redis fails under them, with real Redis servers and nothing of Duban replaced:
a connection broken between a callback's claim and its save (a TCP proxy that drops the save and
then refuses every connection, tests/stubs/tcp_proxy.py), and a redis-server that is stopped.

Each test prints what it measured (run with -s to see it)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
import yaml

from bot.embedded import EmbeddedRedis
from bot.runtime import build_runtime
from bot.store import RedisStore
from tests.conftest import ROOT
from tests.http.callbacks import ding_payload, ding_post
from tests.http.conftest import testing_app as app_for
from tests.stubs.tcp_proxy import BreakingProxy

URL = "https://www.example.gov.cn/claim-ttl.html"


@pytest.fixture
def proxy(redis_url):
    parts = urlsplit(redis_url)
    p = BreakingProxy((parts.hostname, parts.port)).start()
    yield p
    p.close()


def test_a_claim_whose_save_and_release_both_failed_frees_itself_then_the_command_runs_once(
    hook_settings, redis_client, clock, proxy
):
    """Redis goes away right after the callback's claim: its save and the release of its claim
    both fail (the first copy gets 503). Once the claim's short expiry has passed, a
    redelivery runs the command, and the material is saved exactly once."""
    rt = build_runtime(replace(hook_settings, redis_url=proxy.url), clock=clock)
    rt.store.claim_ttl_s = 2  # CLAIM_TTL_S is 120 s; the test does not wait that long
    client = app_for(rt).test_client()
    direct = RedisStore(redis_client, hook_settings.key_prefix)  # past the proxy
    assert ding_post(client, ding_payload("绑定 司法局", "ttl-0")).status_code == 200
    audit = direct.audit.length()
    text = f"提交 12 {URL} 方案"

    proxy.cut_at(URL.encode())  # the save carries the URL; the claim (preload) does not
    first = ding_post(client, ding_payload(text, "ttl-1"))
    assert first.status_code == 503 and proxy.cut.is_set()
    assert direct.inbox.stored_reply("dingtalk", "ttl-1") == ""  # claimed, nothing saved
    assert 0 < redis_client.ttl(direct.keys.seen("dingtalk", "ttl-1")) <= 2
    assert direct.assignments.get(12, "司法局")[0].materials == ()

    proxy.restore()  # Redis is back, but nobody is left to release the claim
    time.sleep(2.5)
    again = ding_post(client, ding_payload(text, "ttl-1"))
    assert again.status_code == 200
    assert "已收到第12项的 1 个链接" in again.get_data(as_text=True)
    third = ding_post(client, ding_payload(text, "ttl-1"))
    assert third.get_data() == again.get_data()
    a, _ = direct.assignments.get(12, "司法局")
    assert [m.url for m in a.materials] == [URL]
    assert direct.audit.length() == audit + 1
    # committed: the message id is now kept for the whole dedupe window
    assert redis_client.ttl(direct.keys.seen("dingtalk", "ttl-1")) > 86000
    rt.redis.close()


def test_a_command_that_writes_itself_keeps_its_claim_once_committed(
    hook_settings, redis_client, clock, proxy, tmp_path
):
    """星标 commits in a script of its own, before its reply is stored. When Redis goes away
    between the two, the claim must outlive its short expiry, or a redelivery would flip the ★
    back."""
    org = yaml.safe_load((ROOT / "org.yaml").read_text(encoding="utf-8"))
    org["admins"].append({"platform": "dingtalk", "user_id": "staff001"})
    (tmp_path / "org.yaml").write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    settings = replace(hook_settings, org_path=str(tmp_path / "org.yaml"))
    rt = build_runtime(replace(settings, redis_url=proxy.url), clock=clock)
    rt.store.claim_ttl_s = 2
    client = app_for(rt).test_client()
    direct = RedisStore(redis_client, settings.key_prefix)
    starred = rt.catalog.get(12).star
    audit = direct.audit.length()

    proxy.cut_at(b'"silent": false')  # only the step storing the reply carries a Reply
    assert ding_post(client, ding_payload("星标 12", "held-1")).status_code == 503
    assert proxy.cut.is_set()
    assert direct.assignments.star_overrides() == {12: not starred}  # the ★ change was committed
    assert redis_client.ttl(direct.keys.seen("dingtalk", "held-1")) > 86000

    proxy.restore()
    time.sleep(2.5)
    assert ding_post(client, ding_payload("星标 12", "held-1")).status_code == 200
    assert direct.assignments.star_overrides() == {12: not starred}  # not flipped back
    assert direct.audit.length() == audit + 1
    rt.redis.close()


def test_redis_down_is_503_within_a_second_and_nothing_is_lost(hook_settings, clock, tmp_path):
    """issue 18: with the redis-server stopped, a callback is answered 503 (the platform
    delivers it again) within 1 s, and /healthz says so; once it is back, the redelivery runs."""
    server = EmbeddedRedis(tmp_path / "redis", persistent=False).start()
    rt = build_runtime(replace(hook_settings, redis_url=server.url), clock=clock)
    client = app_for(rt).test_client()
    try:
        assert ding_post(client, ding_payload("帮助", "down-0")).status_code == 200
        server.stop()
        took = []
        for n in range(1, 4):
            t0 = time.perf_counter()
            resp = ding_post(client, ding_payload("绑定 司法局", "down-1"))
            took.append(time.perf_counter() - t0)
            assert resp.status_code == 503, n
        t0 = time.perf_counter()
        health = client.get("/healthz")
        health_s = time.perf_counter() - t0
        assert health.status_code == 503 and health.json["redis"] is False
        print(
            f"\nRedis down: hook answers 503 in {max(took) * 1000:.0f} ms at most "
            f"({', '.join(f'{t * 1000:.0f}' for t in took)} ms), /healthz in "
            f"{health_s * 1000:.0f} ms"
        )
        assert max(took) < 1.0 and health_s < 1.0  # the fault contract, loosely: under 1 s
        server = EmbeddedRedis(tmp_path / "redis", port=server.port, persistent=False).start()
        again = ding_post(client, ding_payload("绑定 司法局", "down-1"))
        assert again.status_code == 200 and "已绑定到" in again.get_data(as_text=True)
        assert RedisStore(rt.redis, hook_settings.key_prefix).bindings.get("dingtalk", "staff001")
    finally:
        rt.redis.close()
        server.stop()


def test_a_copy_waiting_for_a_claim_that_is_released_runs_the_command_itself(hook_client, hook_rt):
    """A redelivered copy waits for the first copy's reply. When the first copy's claim is
    released meanwhile (its save failed), the waiting copy runs the command: waiting never
    claims the message id, which would leave a claim nobody finishes."""
    assert ding_post(hook_client, ding_payload("绑定 司法局", "wait-0")).status_code == 200
    assert hook_rt.store.inbox.claim("dingtalk", "wait-1") == (True, "")  # the first copy
    release = threading.Timer(0.5, hook_rt.store.inbox.release_claim, ("dingtalk", "wait-1"))
    release.start()
    resp = ding_post(hook_client, ding_payload(f"提交 12 {URL} 方案", "wait-1"))
    release.join()
    assert resp.status_code == 200
    assert "已收到第12项的 1 个链接" in resp.get_data(as_text=True)
    a, _ = hook_rt.store.assignments.get(12, "司法局")
    assert [m.url for m in a.materials] == [URL]

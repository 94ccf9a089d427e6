"""DingTalk Stream mode against a local fake gateway (tests/stubs/stream_gateways.py): the real
client in a thread, the real runtime on Redis, the answers worker really running (a burst
SimpleWorker) and posting replies to the sessionWebhook on the stub platform server."""

from __future__ import annotations

import json
import logging

import pytest

from bot.embedded import EmbeddedRedis
from bot.stream.dingtalk import DingTalkStream
from tests.e2e.background import work
from tests.e2e.streams import DING_SECRET, Running, dingtalk_stream_env, stream_runtime
from tests.http.callbacks import ding_payload
from tests.stubs.platform_server import DINGTALK_SESSION
from tests.stubs.stream_gateways import wait_until

SECRET = DING_SECRET


@pytest.fixture
def rt(redis_url, redis_client, monkeypatch, stub, gateway, clock):
    yield from stream_runtime(monkeypatch, redis_url, clock, dingtalk_stream_env(gateway, stub))


def message(stub, text: str, msg_id: str, **kw) -> dict:
    return ding_payload(text, msg_id, oapi_base=stub.url, **kw)


def replies(stub, msg_id: str) -> list[str]:
    sent = stub.requests_to(DINGTALK_SESSION, key=f"sess-{msg_id}")
    return [
        r.json["markdown"]["text"] if r.json["msgtype"] == "markdown" else r.json["text"]["content"]
        for r in sent
    ]


def acked(gateway, frame_id: str) -> list[dict]:
    return wait_until(lambda: gateway.acks_for(frame_id), what=f"the ACK of {frame_id}")


def test_a_message_in_gets_exactly_one_reply_out(rt, gateway, stub):
    client = DingTalkStream(rt)
    with Running(client):
        frame_id = gateway.callback(message(stub, "绑定 司法局", "s-bind"))
        [ack] = acked(gateway, frame_id)
        work(rt)
    assert ack["code"] == 200 and ack["headers"]["contentType"] == "application/json"
    opened = gateway.opens[0]
    assert opened["clientId"] == "ding-app-key" and opened["clientSecret"] == SECRET
    assert opened["subscriptions"] == [{"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}]
    assert rt.store.bindings.get("dingtalk", "staff001").department == "司法局"
    [text] = replies(stub, "s-bind")
    assert "已绑定到" in text and "司法局" in text
    assert client.counts["accepted"] == 1


def test_a_dropped_connection_reconnects_and_the_unacknowledged_frame_runs_once(rt, gateway, stub):
    client = DingTalkStream(rt)
    with Running(client):
        acked(gateway, gateway.callback(message(stub, "绑定 司法局", "s-d0")))
        gateway.drop_after_send = True  # the ACK of the next frame is lost with the connection
        frame_id = gateway.callback(message(stub, "说明 12 断线重连后只算一次", "s-drop"))
        [ack] = acked(gateway, frame_id)  # sent again on the new connection, then acknowledged
        assert gateway.connections == 2 and len(gateway.opens) == 2
        work(rt)
    assert client.counts["accepted"] == 2 and client.counts["duplicate"] == 1
    assert len(replies(stub, "s-drop")) == 1
    assert [e.action for e in rt.store.audit.entries(count=20)].count("explain") == 1
    a, _ = rt.store.assignments.get(12, "司法局")
    assert a.explanation == "断线重连后只算一次"


def test_a_message_redis_could_not_take_is_not_acknowledged_and_runs_when_sent_again(
    tmp_path, monkeypatch, gateway, stub, clock
):
    server = EmbeddedRedis(tmp_path, persistent=True).start()  # its own, to stop and start
    runtime = stream_runtime(monkeypatch, server.url, clock, dingtalk_stream_env(gateway, stub))
    rt = next(runtime)
    try:
        client = DingTalkStream(rt)
        with Running(client):
            acked(gateway, gateway.callback(message(stub, "绑定 司法局", "r-0")))
            server.stop()
            frame_id = gateway.callback(message(stub, "说明 12 Redis 停了也不丢", "r-down"))
            wait_until(lambda: client.counts["not_acked"] == 1, 30, "the failed accept")
            assert not gateway.acks_for(frame_id)  # DingTalk keeps it and sends it again
            server.start()
            gateway.drop()
            acked(gateway, frame_id)
            work(rt)
        assert len(replies(stub, "r-down")) == 1
        assert rt.store.assignments.get(12, "司法局")[0].explanation == "Redis 停了也不丢"
    finally:
        runtime.close()
        server.stop()


def test_a_cut_connection_is_opened_again_and_messages_flow(rt, gateway, stub):
    with Running(DingTalkStream(rt)):
        acked(gateway, gateway.callback(message(stub, "帮助", "s-c0")))
        gateway.drop()
        wait_until(lambda: gateway.connections == 2, what="a new connection")
        acked(gateway, gateway.callback(message(stub, "帮助", "s-c1")))
        work(rt)
    assert len(replies(stub, "s-c0")) == 1 and len(replies(stub, "s-c1")) == 1


def test_malformed_frames_are_logged_and_skipped_on_a_live_connection(rt, gateway, stub, caplog):
    caplog.set_level(logging.WARNING)
    client = DingTalkStream(rt)
    with Running(client):
        gateway.send("this is not JSON")
        gateway.send(json.dumps({"type": "CALLBACK", "data": "{}"}))  # no headers
        bad_data = gateway.callback("{not json")
        wrong_types = gateway.callback({**message(stub, "帮助", "s-m1"), "conversationType": 2})
        frame_id = gateway.callback(message(stub, "帮助", "s-m2"))
        for fid in (bad_data, wrong_types, frame_id):
            acked(gateway, fid)  # acknowledged: sending them again would not help
        work(rt)
    assert gateway.connections == 1
    assert client.counts["malformed"] == 4
    assert len(replies(stub, "s-m2")) == 1 and not replies(stub, "s-m1")
    assert "unreadable frame skipped" in caplog.text and "skipped: " in caplog.text


def test_ping_is_answered_with_its_own_data(rt, gateway):
    with Running(DingTalkStream(rt)):
        frame_id = gateway.ping('{"opaque":"n-42"}')
        [ack] = acked(gateway, frame_id)
    assert ack["code"] == 200 and ack["data"] == '{"opaque":"n-42"}'


def test_disconnect_opens_a_new_connection(rt, gateway, stub):
    with Running(DingTalkStream(rt)):
        wait_until(lambda: gateway.connections == 1)
        gateway.disconnect()
        wait_until(lambda: gateway.connections == 2, what="a new connection")
        acked(gateway, gateway.callback(message(stub, "帮助", "s-after")))
        work(rt)
    assert len(gateway.opens) == 2 and len(replies(stub, "s-after")) == 1


def test_a_message_without_a_usable_session_is_not_run(rt, gateway, stub):
    client = DingTalkStream(rt)
    with Running(client):
        acked(gateway, gateway.callback(message(stub, "绑定 司法局", "s-old", session_ms=-1000)))
    assert client.counts["unanswerable"] == 1
    assert rt.store.bindings.get("dingtalk", "staff001") is None and rt.store.inbox.backlog() == 0


def test_wrong_credentials_are_logged_and_retried_slowly_without_a_crash(
    rt, gateway, caplog, monkeypatch
):
    caplog.set_level(logging.INFO)
    client = DingTalkStream(rt)
    client.client_secret = "wrong-secret"
    with Running(client, auth_base=0.2) as running:
        wait_until(lambda: gateway.refused >= 3, what="three refused attempts")
        # 0.2 s, 0.4 s, 0.8 s ...: the attempts thin out instead of looping
        refused = gateway.refused
        assert running.thread.is_alive()
    assert refused <= 4 and gateway.connections == 0
    assert "DUBAN_DINGTALK_APP_SECRET" in caplog.text and "wrong-secret" not in caplog.text
    assert "trying again in" in caplog.text

"""Feishu's event WebSocket end to end: the real client (bot/stream/feishu.py) in a thread against
the fake gateway (frames built by lark-oapi's protobuf classes), each event accepted into the
inbox on the test Redis exactly as /hooks/feishu accepts it, the answers worker really running
and replying through the reply API on the stub platform server."""

from __future__ import annotations

import logging

import pytest

from bot.platforms.feishu.bodies import text_of
from bot.stream.__main__ import clients_for
from bot.stream.feishu import FeishuWs, InboxEvents, for_runtime
from tests.e2e.background import work
from tests.e2e.streams import Running, feishu_ws_env, stream_runtime
from tests.http.callbacks import FEISHU_APP_ID, FEISHU_APP_SECRET, feishu_message
from tests.stubs.platform_server import FEISHU_REPLY, FEISHU_TOKEN
from tests.stubs.stream_gateways import FeishuGateway, wait_until


@pytest.fixture
def gateway():
    with FeishuGateway(FEISHU_APP_ID, FEISHU_APP_SECRET) as gw:
        yield gw


@pytest.fixture
def rt(redis_url, redis_client, monkeypatch, stub, gateway, clock):
    stub.require_feishu_app(FEISHU_APP_ID, FEISHU_APP_SECRET)
    yield from stream_runtime(monkeypatch, redis_url, clock, feishu_ws_env(gateway, stub))


def replies(stub, message_id: str) -> list[str]:
    return [text_of(r.json) for r in stub.requests_to(FEISHU_REPLY, key=message_id)]


def taken(gateway, message_id: str) -> list[dict]:
    return wait_until(lambda: gateway.answers_for(message_id), what=f"the answer to {message_id}")


def events_of(client: FeishuWs) -> InboxEvents:
    assert isinstance(client.on_event, InboxEvents)
    return client.on_event


def test_the_stream_process_runs_a_feishu_client_on_the_inbox(rt, gateway):
    [client] = clients_for(rt, ("feishu",))
    assert isinstance(client, FeishuWs) and isinstance(client.on_event, InboxEvents)
    assert client.endpoint_url == gateway.endpoint_url and client.app_id == FEISHU_APP_ID


def test_a_message_in_gets_exactly_one_reply_out(rt, gateway, stub):
    client = for_runtime(rt)
    with Running(client):
        frame = gateway.event(feishu_message("绑定 司法局", "om_ws_bind"))
        assert taken(gateway, frame) == [{"code": 200}]
        work(rt)
    assert rt.store.bindings.get("feishu", "ou_user_zhang").department == "司法局"
    [text] = replies(stub, "om_ws_bind")
    assert "已绑定到" in text and "司法局" in text
    assert events_of(client).counts["accepted"] == 1
    assert len(stub.requests_to(FEISHU_TOKEN)) == 1  # the tenant token of our app


def test_a_dropped_connection_reconnects_and_the_unanswered_event_runs_once(rt, gateway, stub):
    client = for_runtime(rt)
    with Running(client):
        taken(gateway, gateway.event(feishu_message("绑定 司法局", "om_ws_d0")))
        gateway.drop_after_send = True  # the answer to the next event is lost with the socket
        frame = gateway.event(feishu_message("说明 12 断线重连后只算一次", "om_ws_drop"))
        # sent again on the new connection, where it is a duplicate and answered 200
        wait_until(lambda: gateway.connections == 2, what="a new connection")
        assert taken(gateway, frame) == [{"code": 200}]
        work(rt)
    counts = events_of(client).counts
    assert counts["accepted"] == 2 and counts["duplicate"] == 1
    assert len(replies(stub, "om_ws_drop")) == 1
    assert [e.action for e in rt.store.audit.entries(count=20)].count("explain") == 1
    assert rt.store.assignments.get(12, "司法局")[0].explanation == "断线重连后只算一次"


def test_malformed_frames_and_events_are_skipped_on_a_live_connection(rt, gateway, stub, caplog):
    caplog.set_level(logging.WARNING)
    client = for_runtime(rt)
    bad_content = feishu_message("帮助", "om_ws_m1")
    bad_content["event"]["message"]["content"] = "{not json"
    wrong_chat = feishu_message("帮助", "om_ws_m2")
    wrong_chat["event"]["message"]["chat_type"] = "channel"
    with Running(client):
        gateway.send(b"\x0f\x00garbage")  # not a protobuf frame
        not_json = gateway.event_bytes(b"{this is not JSON")
        frames = [gateway.event(bad_content), gateway.event(wrong_chat), not_json]
        good = gateway.event(feishu_message("帮助", "om_ws_ok"))
        for frame in [*frames, good]:
            # answered 200: sending them again would not make them readable
            assert taken(gateway, frame) == [{"code": 200}]
        work(rt)
    assert gateway.connections == 1
    assert client.counts["malformed"] == 1 and events_of(client).counts["malformed"] == 3
    assert len(replies(stub, "om_ws_ok")) == 1
    assert not replies(stub, "om_ws_m1") and not replies(stub, "om_ws_m2")
    assert "unreadable frame skipped" in caplog.text and "event skipped" in caplog.text
    assert "{not json" not in caplog.text  # what people wrote is not logged


def test_other_events_and_bot_messages_are_taken_and_not_answered(rt, gateway, stub):
    client = for_runtime(rt)
    from_bot = feishu_message("帮助", "om_ws_bot")
    from_bot["event"]["sender"]["sender_type"] = "app"
    joined = {"schema": "2.0", "header": {"event_id": "ev-join", "event_type":
              "im.chat.member.bot.added_v1"}, "event": {"chat_id": "oc_1"}}  # fmt: skip
    with Running(client):
        for event in (from_bot, joined):
            assert taken(gateway, gateway.event(event)) == [{"code": 200}]
        work(rt)
    assert events_of(client).counts["ignored"] == 2 and not stub.requests_to(FEISHU_REPLY)

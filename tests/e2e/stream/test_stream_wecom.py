"""The WeCom smart bot's long connection against a local fake gateway
(tests/stubs/stream_gateways.py): the real client in a thread, the real runtime on Redis;
replies come back on the socket as aibot_respond_msg."""

from __future__ import annotations

import json
import logging

import pytest

from bot.stream.wecom import WeComLongConn
from tests.e2e.streams import Running, stream_runtime
from tests.stubs.stream_gateways import WeComGateway, wait_until, wecom_text


@pytest.fixture
def gateway():
    with WeComGateway("bot-1", "bot-secret") as gw:
        yield gw


@pytest.fixture
def rt(redis_url, redis_client, monkeypatch, gateway, clock):
    env = {
        "DUBAN_WECOM_MODE": "longconn",
        "DUBAN_WECOM_BOT_ID": "bot-1",
        "DUBAN_WECOM_BOT_SECRET": "bot-secret",
        "DUBAN_WECOM_LONGCONN_URL": gateway.url,
    }
    yield from stream_runtime(monkeypatch, redis_url, clock, env)


def answered(gateway, msgid: str, count: int = 1) -> list[str]:
    """The stream contents of the replies to `msgid`, once `count` of them arrived."""
    wait_until(lambda: len(gateway.responds_to(msgid)) >= count, what=f"a reply to {msgid}")
    return [r["body"]["stream"]["content"] for r in gateway.responds_to(msgid)]


def test_a_message_in_gets_exactly_one_reply_out(rt, gateway):
    client = WeComLongConn(rt)
    with Running(client):
        gateway.callback(wecom_text("绑定 司法局", "w-bind"))
        [text] = answered(gateway, "w-bind")
    [sub] = gateway.subscribes
    assert sub["body"] == {"bot_id": "bot-1", "secret": "bot-secret"}
    [reply] = gateway.responds_to("w-bind")
    assert reply["headers"]["req_id"].startswith("req-")  # the callback's own req_id
    assert reply["body"]["msgtype"] == "stream" and reply["body"]["stream"]["finish"] is True
    assert "已绑定到" in text and "司法局" in text
    assert rt.store.bindings.get("wecom", "wx-staff001").department == "司法局"
    assert client.counts["answered"] == 1


def test_a_dropped_connection_reconnects_and_the_unanswered_message_runs_once(rt, gateway):
    client = WeComLongConn(rt)
    with Running(client):
        gateway.callback(wecom_text("绑定 司法局", "w-d0"))
        answered(gateway, "w-d0")
        gateway.drop_after_send = True  # the reply to the next message cannot reach WeCom
        gateway.callback(wecom_text("说明 12 断线重连后只算一次", "w-drop"))
        [text] = answered(gateway, "w-drop")  # sent again on the new connection, answered there
        assert gateway.connections == 2
        gateway.callback(wecom_text("帮助", "w-after"))  # and a late copy is not answered again
        answered(gateway, "w-after")
    assert "第12项" in text
    assert len(gateway.responds_to("w-drop")) == 1
    assert [e.action for e in rt.store.audit.entries(count=20)].count("explain") == 1
    assert rt.store.assignments.get(12, "司法局")[0].explanation == "断线重连后只算一次"


def test_a_redelivered_message_already_answered_gets_no_second_reply(rt, gateway):
    client = WeComLongConn(rt)
    with Running(client):
        gateway.callback(wecom_text("帮助", "w-twice"))
        answered(gateway, "w-twice")
        gateway.callback(wecom_text("帮助", "w-twice"))  # WeCom repeats a message it sent
        gateway.callback(wecom_text("帮助", "w-next"))
        answered(gateway, "w-next")
    assert len(gateway.responds_to("w-twice")) == 1 and client.counts["replayed"] == 1


def test_a_reply_whose_answer_never_came_is_not_sent_again(rt, gateway, caplog):
    # WeCom may have shown it: like a push whose fate is unknown, it is not posted twice.
    client = WeComLongConn(rt)
    client.answer_timeout = 0.3
    with Running(client):
        gateway.answer_replies = False
        gateway.callback(wecom_text("帮助", "w-unsure"))
        wait_until(lambda: client.counts["uncertain"] == 1, what="the reply counted uncertain")
        gateway.answer_replies = True
        gateway.callback(wecom_text("帮助", "w-unsure"))  # the message comes again
        gateway.callback(wecom_text("帮助", "w-sure"))
        answered(gateway, "w-sure")
    assert len(gateway.responds_to("w-unsure")) == 1 and client.counts["replayed"] == 1
    assert "not sent again" in caplog.text


def test_malformed_frames_are_logged_and_skipped_on_a_live_connection(rt, gateway, caplog):
    caplog.set_level(logging.WARNING)
    client = WeComLongConn(rt)
    with Running(client):
        gateway.callback({"msgid": "w-m0"})  # waits for the subscription
        gateway.send("not JSON at all")
        gateway.send(json.dumps({"cmd": "aibot_msg_callback", "headers": {"req_id": 5}}))
        gateway.callback({**wecom_text("帮助", "w-m1"), "chattype": "room"})
        gateway.callback(wecom_text("帮助", "w-m2"))
        answered(gateway, "w-m2")
    assert gateway.connections == 1 and client.counts["malformed"] == 4
    assert not gateway.responds_to("w-m1")
    assert "unreadable frame skipped" in caplog.text and "skipped: " in caplog.text


def test_heartbeats_are_sent_and_a_silent_server_means_a_new_connection(rt, gateway):
    client = WeComLongConn(rt, heartbeat_s=0.1)
    with Running(client):
        wait_until(lambda: gateway.pings >= 3, what="three heartbeats")
        assert gateway.connections == 1 and client.counts["pings"] >= 2
        gateway.answer_pings = False
        wait_until(lambda: gateway.connections == 2, what="a reconnect after missed heartbeats")
        gateway.answer_pings = True
        gateway.callback(wecom_text("帮助", "w-h1"))
        answered(gateway, "w-h1")


def test_wrong_credentials_are_logged_and_retried_slowly_without_a_crash(rt, gateway, caplog):
    caplog.set_level(logging.INFO)
    client = WeComLongConn(rt)
    client.secret = "wrong-secret"
    with Running(client, auth_base=0.2) as running:
        wait_until(lambda: gateway.refused >= 3, what="three refused subscriptions")
        refused = gateway.refused
        assert running.thread.is_alive()
    assert refused <= 4
    assert "DUBAN_WECOM_BOT_SECRET" in caplog.text and "wrong-secret" not in caplog.text


def test_a_connection_replaced_by_another_stops_this_client(rt, gateway, caplog):
    client = WeComLongConn(rt)
    running = Running(client).__enter__()
    wait_until(lambda: gateway.subscribes and gateway.ws is not None)
    gateway.kick()
    running.thread.join(10)
    assert running.close() is False and gateway.connections == 1
    assert "took over" in caplog.text


def test_a_burst_of_messages_is_answered_and_every_reply_confirmed(rt, gateway):
    # More messages at once than run in parallel: reading must go on while replies wait for
    # their answers, or the answers sit unread and every reply counts as uncertain.
    client = WeComLongConn(rt)
    with Running(client):
        wait_until(lambda: gateway.ws is not None, what="a subscribed connection")
        frames = [gateway._callback_frame(wecom_text("帮助", f"w-burst{i}")) for i in range(40)]
        for frame in frames:
            gateway.send(frame)
        wait_until(lambda: client.counts["answered"] + client.counts["uncertain"] == 40, 30)
    assert client.counts["answered"] == 40 and client.counts["uncertain"] == 0

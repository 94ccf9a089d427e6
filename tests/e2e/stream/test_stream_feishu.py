"""Feishu's event WebSocket client against a local fake gateway whose frames are built by
lark-oapi's protobuf classes: the endpoint request, pings, events (also in parts) answered
with code 200 once handed on, 500 when they could not be, malformed frames skipped, refused
credentials retried slowly. The client hands each event to the function it is given; what an
event means for Duban is the Feishu platform package's."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from bot.stream.feishu import FeishuWs
from tests.e2e.streams import Running
from tests.stubs.stream_gateways import FeishuGateway, wait_until

EVENT = {
    "schema": "2.0",
    "header": {"event_id": "5e37", "event_type": "im.message.receive_v1", "app_id": "cli_test"},
    "event": {"message": {"message_id": "om_1", "chat_type": "group", "message_type": "text",
                          "content": json.dumps({"text": "@_user_1 我的任务"})}},
}  # fmt: skip


class Events:
    """What the client handed on, in a thread of its own; `fail` makes the next one raise."""

    def __init__(self) -> None:
        self.got: list[dict] = []
        self.fail = False
        self.lock = threading.Lock()

    def __call__(self, payload: bytes) -> None:
        if self.fail:
            self.fail = False
            raise RuntimeError("the store is down")
        with self.lock:
            self.got.append(json.loads(payload))


@pytest.fixture
def gateway():
    with FeishuGateway("cli_test", "feishu-secret") as gw:
        yield gw


def client_for(gateway, events, secret: str = "feishu-secret") -> FeishuWs:
    return FeishuWs(events, "cli_test", secret, gateway.endpoint_url)


def test_an_event_is_handed_on_once_and_answered_200(gateway):
    events = Events()
    with Running(client_for(gateway, events)):
        message_id = gateway.event(EVENT)
        [answer] = wait_until(lambda: gateway.answers_for(message_id))
    assert answer == {"code": 200} and events.got == [EVENT]
    [frame] = gateway.answers
    headers = {h.key: h.value for h in frame.headers}
    assert headers["message_id"] == message_id and int(headers["biz_rt"]) >= 0


def test_an_event_in_parts_is_put_together(gateway):
    events = Events()
    big = {**EVENT, "padding": "办" * 5000}
    with Running(client_for(gateway, events)):
        message_id = gateway.event(big, parts=3)
        wait_until(lambda: gateway.answers_for(message_id))
    assert events.got == [big] and len(gateway.answers) == 1


def test_an_event_that_could_not_be_taken_is_answered_500(gateway):
    events = Events()
    events.fail = True
    with Running(client_for(gateway, events)):
        first = gateway.event(EVENT)
        assert wait_until(lambda: gateway.answers_for(first)) == [{"code": 500}]
        second = gateway.event(EVENT)  # Feishu sends it again
        assert wait_until(lambda: gateway.answers_for(second)) == [{"code": 200}]
    assert events.got == [EVENT]


def test_pings_follow_the_configured_interval_and_malformed_frames_are_skipped(gateway, caplog):
    caplog.set_level(logging.WARNING)
    events = Events()
    client = client_for(gateway, events)
    with Running(client):
        wait_until(lambda: gateway.pings >= 2, what="two pings (PingInterval 1 s)")
        gateway.send(b"\x0f\x00garbage")
        gateway.send("a text frame")
        message_id = gateway.event(EVENT)
        wait_until(lambda: gateway.answers_for(message_id))
    assert gateway.connections == 1 and client.counts["malformed"] == 2
    assert client.counts["pongs"] >= 1 and "unreadable frame skipped" in caplog.text


def test_a_cut_connection_is_opened_again(gateway):
    events = Events()
    with Running(client_for(gateway, events)):
        wait_until(lambda: gateway.connections == 1)
        gateway.drop()
        wait_until(lambda: gateway.connections == 2, what="a new connection")
        message_id = gateway.event(EVENT)
        wait_until(lambda: gateway.answers_for(message_id))


def test_wrong_credentials_are_logged_and_retried_slowly(gateway, caplog):
    caplog.set_level(logging.INFO)
    with Running(client_for(gateway, Events(), "wrong-secret"), auth_base=0.2) as running:
        wait_until(lambda: gateway.refused >= 3, what="three refused attempts")
        refused = gateway.refused
        assert running.thread.is_alive()
    assert refused <= 4 and gateway.connections == 0
    assert "DUBAN_FEISHU_APP_SECRET" in caplog.text and "wrong-secret" not in caplog.text

"""A file over Feishu's event WebSocket (intranet mode): the real client (bot/stream/feishu.py)
against the fake gateway takes a one-to-one file event into the inbox as /hooks/feishu would,
the worker holds it and downloads it from the stub's message resource API with the tenant
token, and the sender's next number files it, once, also when the gateway sends the event
again."""

from __future__ import annotations

import hashlib

import pytest

from bot.platforms.feishu.bodies import text_of
from bot.stream.feishu import for_runtime
from tests.e2e.background import work
from tests.e2e.streams import Running, feishu_ws_env, stream_runtime
from tests.http.callbacks import (
    FEISHU_APP_ID,
    FEISHU_APP_SECRET,
    feishu_file_message,
    feishu_message,
)
from tests.stubs.platform_server import FEISHU_REPLY, FEISHU_RESOURCE
from tests.stubs.stream_gateways import FeishuGateway, wait_until

PDF = b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\n%%EOF\n"
DEPT = "司法局"


@pytest.fixture
def gateway():
    with FeishuGateway(FEISHU_APP_ID, FEISHU_APP_SECRET) as gw:
        yield gw


@pytest.fixture
def rt(redis_url, redis_client, monkeypatch, stub, gateway, clock, tmp_path):
    stub.require_feishu_app(FEISHU_APP_ID, FEISHU_APP_SECRET)
    env = feishu_ws_env(gateway, stub) | {"DUBAN_FILE_DIR": str(tmp_path / "files")}
    yield from stream_runtime(monkeypatch, redis_url, clock, env)


def replies(stub, message_id: str) -> list[str]:
    return [text_of(r.json) for r in stub.requests_to(FEISHU_REPLY, key=message_id)]


def send(gateway, event: dict) -> None:
    frame = gateway.event(event)
    answers = wait_until(lambda: gateway.answers_for(frame), what="the gateway's answer")
    assert answers == [{"code": 200}]


def test_a_file_over_the_websocket_is_downloaded_once_and_filed_by_the_number(rt, gateway, stub):
    n = min(
        i
        for (i, d) in rt.assignments
        if d == DEPT and not rt.catalog.get(i).is_secret and i in rt.catalog.regular_ids
    )
    stub.serve_feishu_resource("om_ws_pdf", "file_v3_ws", PDF, kind="file")
    content = {"file_key": "file_v3_ws", "file_name": "台账.pdf"}
    event = feishu_file_message("om_ws_pdf", "file", content, group=False)
    with Running(for_runtime(rt)):
        send(gateway, feishu_message("绑定 司法局", "om_ws_bind", group=False))
        send(gateway, event)
        send(gateway, event)  # sent again: one hold, one download
        work(rt)
        work(rt)
        send(gateway, feishu_message(str(n), "om_ws_n", group=False))
        work(rt)
    assert replies(stub, "om_ws_pdf") == ["收到文件「台账.pdf」，请回复指标编号（如 12）归入该项。"]
    assert len(stub.requests_to(FEISHU_RESOURCE, key="om_ws_pdf")) == 1
    assert f"已将文件「台账.pdf」归入第{n}项" in replies(stub, "om_ws_n")[0]
    a, _ = rt.store.assignments.get(n, DEPT)
    [m] = [m for m in a.materials if m.file is not None]
    assert m.file.sha256 == hashlib.sha256(PDF).hexdigest() and m.name == "台账.pdf"

"""The stub platform server that http and e2e tests post to: recording, programmed faults, 加签."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from bot.platforms.base import encode_json
from bot.platforms.dingtalk import custom_robot_bodies, sign_webhook_url
from bot.platforms.feishu import bodies as feishu_bodies
from bot.platforms.feishu.outbound import sign_webhook_body
from bot.platforms.wecom import webhook_bodies, webhook_url
from tests.stubs.platform_server import (
    DINGTALK_GROUP_SEND,
    DINGTALK_ROBOT,
    DINGTALK_SESSION,
    DINGTALK_TOKEN,
    FEISHU_HOOK,
    FEISHU_MESSAGES,
    FEISHU_REPLY,
    FEISHU_TOKEN,
    WECOM_WEBHOOK,
    PlatformStub,
)


@pytest.fixture(params=["http.server", "lean"])
def stub(request):
    """Both front ends: each test holds for http.server's and for the lean one (benchmarks)."""
    s = PlatformStub().start(lean=request.param == "lean")
    try:
        yield s
    finally:
        s.stop()


def send(url: str, body: object, timeout: float = 5.0, headers: dict | None = None):
    data = body if isinstance(body, bytes) else encode_json(body)
    req = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_binds_to_a_random_local_port(stub):
    assert stub.url.startswith("http://127.0.0.1:")
    with PlatformStub() as other:
        assert other.url != stub.url


def test_records_every_endpoint(stub):
    [body] = webhook_bodies("**催办** 第 12 项", ["lisi"], kind="markdown")
    assert send(webhook_url(stub.url, "key-1"), body) == (200, {"errcode": 0, "errmsg": "ok"})
    [ding] = custom_robot_bodies("排行")
    assert send(f"{stub.url}{DINGTALK_ROBOT}?access_token=t1", ding)[1]["errcode"] == 0
    assert send(f"{stub.url}{DINGTALK_SESSION}?session=s1", ding)[1]["errcode"] == 0
    status, token = send(f"{stub.url}{DINGTALK_TOKEN}", {"appKey": "k", "appSecret": "s"})
    assert status == 200 and token["accessToken"].startswith("stub-token-")
    group = {"robotCode": "r", "openConversationId": "cid1", "msgKey": "sampleText"}
    status, answer = send(
        f"{stub.url}{DINGTALK_GROUP_SEND}", group, headers={"x-acs-dingtalk-access-token": "tok"}
    )
    assert status == 200 and "processQueryKey" in answer

    recs = stub.requests
    assert [r.path for r in recs] == [
        WECOM_WEBHOOK,
        DINGTALK_ROBOT,
        DINGTALK_SESSION,
        DINGTALK_TOKEN,
        DINGTALK_GROUP_SEND,
    ]
    assert [r.key for r in recs] == ["key-1", "t1", "s1", "", "cid1"]
    assert recs[0].query == {"key": "key-1"}
    assert recs[0].json == body
    assert recs[0].headers["content-type"] == "application/json"
    assert recs[4].headers["x-acs-dingtalk-access-token"] == "tok"
    assert stub.requests_to(WECOM_WEBHOOK, key="key-1") == [recs[0]]


def test_errcode_for_the_next_n_requests_of_one_robot(stub):
    stub.fail_next(2, errcode=45009, key="busy")
    url_busy, url_calm = webhook_url(stub.url, "busy"), webhook_url(stub.url, "calm")
    body = {"msgtype": "text", "text": {"content": "x"}}
    assert send(url_calm, body)[1]["errcode"] == 0
    assert send(url_busy, body)[1]["errcode"] == 45009
    assert send(url_busy, body)[1]["errcode"] == 45009
    assert send(url_busy, body)[1]["errcode"] == 0
    assert len(stub.requests) == 4


def test_rules_apply_in_order(stub):
    stub.fail_next(errcode=130101)
    stub.fail_next(errcode=310000)
    url = f"{stub.url}{DINGTALK_ROBOT}?access_token=t"
    codes = [send(url, {"msgtype": "text"})[1]["errcode"] for _ in range(3)]
    assert codes == [130101, 310000, 0]


def test_http_500(stub):
    stub.fail_next(status=500, path=WECOM_WEBHOOK)
    assert send(f"{stub.url}{DINGTALK_ROBOT}?access_token=t", {})[0] == 200  # other path
    assert send(webhook_url(stub.url, "k"), {})[0] == 500
    assert send(webhook_url(stub.url, "k"), {})[0] == 200


def test_openapi_errors_come_as_http_400(stub):
    stub.fail_next(errcode=300001, path=DINGTALK_GROUP_SEND)
    status, answer = send(f"{stub.url}{DINGTALK_GROUP_SEND}", {"openConversationId": "c"})
    assert status == 400 and answer["code"] == "300001" and answer["errcode"] == 300001


def test_delay_provokes_a_client_timeout(stub):
    stub.fail_next(delay=2.0)
    started = time.monotonic()
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        send(webhook_url(stub.url, "k"), {}, timeout=0.2)
    assert time.monotonic() - started < 1.5
    assert len(stub.wait_for(1)) == 1  # the request was still recorded
    assert send(webhook_url(stub.url, "k"), {})[1]["errcode"] == 0


def test_stop_does_not_wait_for_a_sleeping_handler():
    stub = PlatformStub().start()
    stub.fail_next(delay=30.0)

    def doomed_send() -> None:
        try:
            send(webhook_url(stub.url, "k"), {}, timeout=0.1)
        except OSError:
            pass  # the client times out; that is the point

    threading.Thread(target=doomed_send, daemon=True).start()
    stub.wait_for(1)
    started = time.monotonic()
    stub.stop()
    assert time.monotonic() - started < 5


def test_dingtalk_signature_check(stub):
    secret = "SEC0123456789abcdef"
    stub.require_dingtalk_sign("tok", secret)
    base = f"{stub.url}{DINGTALK_ROBOT}?access_token=tok"
    now = int(time.time() * 1000)
    assert send(sign_webhook_url(base, secret, now), {"msgtype": "text"})[1]["errcode"] == 0
    assert send(sign_webhook_url(base, "SECwrong", now), {})[1]["errcode"] == 310000
    assert send(sign_webhook_url(base, secret, now - 3_700_000), {})[1]["errcode"] == 310000
    assert send(base, {})[1]["errcode"] == 310000  # unsigned


def test_non_json_body_and_unknown_path(stub):
    assert send(webhook_url(stub.url, "k"), b"not json")[0] == 400
    assert stub.requests[-1].json is None and stub.requests[-1].body == b"not json"
    assert send(f"{stub.url}/nowhere", {})[0] == 404


def test_a_post_cut_off_mid_body_is_neither_recorded_nor_answered(stub):
    """A worker killed while writing its request leaves a body shorter than its Content-Length:
    no platform ever sees that request, so the stub does not record it as one."""
    host, port = stub.url.removeprefix("http://").split(":")
    body = json.dumps({"msgtype": "text", "text": {"content": "被截断"}}).encode()
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(
            f"POST /cgi-bin/webhook/send?key=k HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(1024) == b""  # closed, no answer
    assert (
        send(webhook_url(stub.url, "k"), {"msgtype": "text", "text": {"content": "完整"}})[0] == 200
    )
    assert [r.json["text"]["content"] for r in stub.requests] == ["完整"]


def test_concurrent_posts_are_all_recorded(stub):
    url = webhook_url(stub.url, "k")
    threads = [threading.Thread(target=send, args=(url, {"n": i})) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.json["n"] for r in stub.wait_for(20)) == list(range(20))


def test_reset_and_wait_for_timeout(stub):
    stub.fail_next(errcode=93000)
    send(webhook_url(stub.url, "k"), {})
    stub.reset()
    assert stub.requests == []
    assert send(webhook_url(stub.url, "k"), {})[1]["errcode"] == 0  # rule forgotten
    with pytest.raises(TimeoutError):
        stub.wait_for(5, timeout=0.1)
    with pytest.raises(ValueError):
        stub.fail_next()


# --- Feishu -------------------------------------------------------------------------------------


def feishu_token(stub, app_id: str = "cli_x", secret: str = "sec") -> str:
    status, answer = send(f"{stub.url}{FEISHU_TOKEN}", {"app_id": app_id, "app_secret": secret})
    assert status == 200 and answer["code"] == 0 and answer["expire"] == stub.token_expire_in
    return answer["tenant_access_token"]


def test_feishu_tokens_are_required_on_messages_and_can_be_revoked(stub):
    stub.require_feishu_app("cli_x", "sec")
    assert (
        send(f"{stub.url}{FEISHU_TOKEN}", {"app_id": "cli_x", "app_secret": "no"})[1]["code"]
        == 10014
    )
    token = feishu_token(stub)
    [body] = feishu_bodies.api_bodies("催办", chat_id="oc_1")
    bearer = {"Authorization": f"Bearer {token}"}
    status, answer = send(
        f"{stub.url}{FEISHU_MESSAGES}?receive_id_type=chat_id", body, headers=bearer
    )
    assert status == 200 and answer["code"] == 0 and answer["data"]["message_id"].startswith("om_")
    [reply] = feishu_bodies.api_bodies("已收到")
    assert send(f"{stub.url}/open-apis/im/v1/messages/om_9/reply", reply, headers=bearer)[0] == 200
    assert send(f"{stub.url}{FEISHU_MESSAGES}", body)[1]["code"] == 99991663  # no token
    stub.revoke_feishu_tokens()
    status, answer = send(f"{stub.url}{FEISHU_MESSAGES}", body, headers=bearer)
    assert (status, answer["code"]) == (400, 99991663)
    recs = stub.requests
    assert [r.path for r in recs[2:5]] == [FEISHU_MESSAGES, FEISHU_REPLY, FEISHU_MESSAGES]
    assert [r.key for r in recs[2:4]] == ["oc_1", "om_9"]
    assert recs[3].raw_path == "/open-apis/im/v1/messages/om_9/reply"


def test_feishu_custom_bot_signature_check(stub):
    stub.require_feishu_sign("hook-1", "sec")
    [body] = feishu_bodies.webhook_bodies("排行")
    url = f"{stub.url}{FEISHU_HOOK}hook-1"
    now = int(time.time())
    assert send(url, sign_webhook_body(body, "sec", now))[1]["code"] == 0
    assert send(url, sign_webhook_body(body, "wrong", now))[1]["code"] == 19021
    assert send(url, sign_webhook_body(body, "sec", now - 3700))[1]["code"] == 19021
    assert send(url, body)[1]["code"] == 19021  # unsigned
    assert send(f"{stub.url}{FEISHU_HOOK}open-hook", body)[1]["code"] == 0  # no signing set up
    assert {r.key for r in stub.requests_to(FEISHU_HOOK)} == {"hook-1", "open-hook"}


def test_feishu_faults_come_as_feishu_answers_with_the_reset_header(stub):
    stub.feishu_reset_s = 7
    stub.fail_next(errcode=99991400, path=FEISHU_MESSAGES)
    stub.fail_next(errcode=11232, path=FEISHU_HOOK)
    req = urllib.request.Request(f"{stub.url}{FEISHU_MESSAGES}", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 429 and e.value.headers["x-ogw-ratelimit-reset"] == "7"
    assert json.loads(e.value.read())["code"] == 99991400
    assert send(f"{stub.url}{FEISHU_HOOK}h", {"msg_type": "text"}) == (
        200, {"code": 11232, "msg": "frequency limited psm"},
    )  # fmt: skip


def test_fail_for_refuses_every_matching_request_for_a_time_then_none(stub):
    """An outage (fail_for): however many requests come, each is refused until it ends, others
    (another robot) are not; a count rule added meanwhile waits its turn behind it."""
    [body] = webhook_bodies("通知", [], kind="text")
    until = stub.fail_for(0.6, status=500, key="key-1")
    assert until > time.time()
    during = [send(webhook_url(stub.url, "key-1"), body)[0] for _ in range(5)]
    assert during == [500] * 5
    assert send(webhook_url(stub.url, "key-2"), body)[0] == 200  # another robot
    time.sleep(max(0.0, until - time.time()) + 0.05)
    assert send(webhook_url(stub.url, "key-1"), body)[0] == 200
    refused = [r for r in stub.requests_to(WECOM_WEBHOOK, "key-1") if r.at < until]
    assert len(refused) == 5  # a request's fate follows its recorded arrival time
    with pytest.raises(ValueError):
        stub.fail_for(1.0)

"""POST /hooks/dingtalk through Flask's test client with really signed callbacks
(https://open.dingtalk.com/document/orgapp/receive-message): replies, rejections (401/400/413) that
touch nothing and log no body, deduplication of redeliveries (also concurrent ones), and long replies continued through the sessionWebhook."""

from __future__ import annotations

import json
import logging
import threading

from bot import delivery
from bot.queue import all_queues
from bot.render import strip_part_prefix
from tests.http.callbacks import LIMIT, ding_headers, ding_payload, ding_post, now_ms
from tests.http.conftest import work
from tests.stubs.platform_server import DINGTALK_SESSION

SECRET_WORD = "绝密内容XYZ"  # put in rejected bodies; must never reach the log


def state(rt) -> tuple[int, list[bytes]]:
    """What a callback may change: the audit log and the keys under our prefix."""
    return rt.store.audit.length(), sorted(rt.redis.keys("hooks:*"))


def body_of(resp) -> dict:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.content_type.startswith("application/json")
    return json.loads(resp.get_data())


def content_of(body: dict) -> str:
    return body["text"]["content"] if body["msgtype"] == "text" else body["markdown"]["text"]


def jobs(rt) -> list:
    return [j for q in all_queues(rt.redis, rt.settings.key_prefix) for j in q.jobs]


# --- replies ------------------------------------------------------------------------------------


def test_signed_message_gets_its_reply_in_the_body(hook_client, hook_rt):
    audit = hook_rt.store.audit.length()
    body = body_of(ding_post(hook_client, ding_payload("绑定 司法局", "msg-bind-1")))
    assert "已绑定到" in content_of(body) and "司法局" in content_of(body)
    assert hook_rt.store.audit.length() == audit + 1
    assert hook_rt.store.bindings.get("dingtalk", "staff001").department == "司法局"
    # the binding wrote a notice to the outbox: one debounced drain was enqueued
    assert [j.func_name for j in jobs(hook_rt)] == [delivery.DRAIN_JOB]


def test_query_command_replies_and_changes_nothing(hook_client, hook_rt):
    ding_post(hook_client, ding_payload("绑定 司法局", "msg-a"))
    audit = hook_rt.store.audit.length()
    body = body_of(ding_post(hook_client, ding_payload("我的任务", "msg-b")))
    assert content_of(body).startswith("司法局") or "司法局 · 共" in content_of(body)
    assert hook_rt.store.audit.length() == audit


def test_non_text_message_is_answered_empty(hook_client, hook_rt):
    payload = ding_payload("x", "msg-pic")
    payload["msgtype"] = "audio"
    before = state(hook_rt)
    assert body_of(ding_post(hook_client, payload)) == {"msgtype": "empty"}
    assert state(hook_rt) == before


# --- rejections -----------------------------------------------------------------------------------


def assert_rejected(resp, status, rt, before, caplog):
    assert resp.status_code == status
    assert state(rt) == before  # no dedupe key, no audit entry, nothing
    assert SECRET_WORD not in caplog.text
    assert "绑定" not in caplog.text


def test_bad_signature_is_401(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    payload = ding_payload(f"绑定 司法局 {SECRET_WORD}", "msg-bad-sign")
    resp = ding_post(hook_client, payload, ding_headers(secret="not-the-secret"))
    assert_rejected(resp, 401, hook_rt, before, caplog)


def test_stale_or_future_timestamp_is_401(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    payload = ding_payload(f"绑定 司法局 {SECRET_WORD}", "msg-stale")
    for skew in (-3_600_001 - 5000, 3_600_001 + 5000):
        resp = ding_post(hook_client, payload, ding_headers(now_ms() + skew))
        assert_rejected(resp, 401, hook_rt, before, caplog)


def test_missing_sign_headers_are_401(hook_client, hook_rt, caplog):
    before = state(hook_rt)
    payload = json.dumps(ding_payload(SECRET_WORD, "msg-nosign"), ensure_ascii=False).encode()
    resp = hook_client.post("/hooks/dingtalk", data=payload, content_type="application/json")
    assert_rejected(resp, 401, hook_rt, before, caplog)


def test_malformed_json_is_400(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    for raw in (
        b'{"msgtype": "text", "text": {"content": "' + SECRET_WORD.encode(),
        b"[1, 2]",
        b"\xff\xfe",
    ):
        assert_rejected(ding_post(hook_client, raw), 400, hook_rt, before, caplog)


def test_field_of_the_wrong_type_is_400(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    cases = [
        ("conversationType", 2),  # a string "2" on the wire (接收消息), not a number
        ("text", {"content": 12}),
        ("senderStaffId", ["staff001"]),
        ("isInAtList", "yes"),
        ("msgtype", None),
    ]
    for key, value in cases:
        payload = ding_payload(f"绑定 司法局 {SECRET_WORD}", f"msg-type-{key}")
        payload[key] = value
        assert_rejected(ding_post(hook_client, payload), 400, hook_rt, before, caplog)


def test_body_over_64_kib_is_413(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    payload = ding_payload(SECRET_WORD + "长" * (LIMIT // 3 + 10), "msg-big")
    raw = json.dumps(payload, ensure_ascii=False).encode()
    assert len(raw) > LIMIT
    assert_rejected(ding_post(hook_client, raw), 413, hook_rt, before, caplog)


def test_body_of_exactly_64_kib_is_read(hook_client, hook_rt):
    payload = ding_payload("我的任务", "msg-edge")
    raw = json.dumps(payload, ensure_ascii=False).encode()
    raw = raw[:-1] + b" " * (LIMIT - len(raw)) + b"}"
    assert len(raw) == LIMIT
    assert ding_post(hook_client, raw).status_code == 200


# --- deduplication --------------------------------------------------------------------------------


def test_redelivery_gets_the_same_reply_and_changes_nothing(hook_client, hook_rt):
    payload = ding_payload("绑定 司法局", "msg-dup")
    first = body_of(ding_post(hook_client, payload))
    after_first = state(hook_rt)
    queued = len(jobs(hook_rt))
    again = body_of(ding_post(hook_client, payload, ding_headers()))
    assert again == first
    assert state(hook_rt) == after_first
    assert len(jobs(hook_rt)) == queued


def test_redelivery_after_a_changing_command_does_not_repeat_it(hook_client, hook_rt):
    ding_post(hook_client, ding_payload("绑定 司法局", "msg-1"))
    payload = ding_payload("绑定 行政审批局", "msg-2")
    first = body_of(ding_post(hook_client, payload))
    ding_post(hook_client, ding_payload("绑定 司法局", "msg-3"))  # someone moves back
    again = body_of(ding_post(hook_client, payload))
    assert again == first
    assert hook_rt.store.bindings.get("dingtalk", "staff001").department == "司法局"


def test_three_copies_at_the_same_moment_have_one_effect(hook_app, hook_rt):
    payload = json.dumps(ding_payload("绑定 司法局", "msg-triple"), ensure_ascii=False).encode()
    audit = hook_rt.store.audit.length()
    barrier = threading.Barrier(3)
    results: list = [None] * 3

    def deliver(i: int) -> None:
        client = hook_app.test_client()
        headers = ding_headers()
        barrier.wait()
        resp = client.post("/hooks/dingtalk", data=payload, headers=headers)
        results[i] = (resp.status_code, resp.get_data())

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert all(r is not None and r[0] == 200 for r in results)
    assert len({r[1] for r in results}) == 1  # the same reply, byte for byte
    assert "已绑定到" in content_of(json.loads(results[0][1]))
    assert hook_rt.store.audit.length() == audit + 1
    assert len([j for j in jobs(hook_rt) if j.func_name == delivery.DRAIN_JOB]) == 1


# --- long replies ---------------------------------------------------------------------------------


def long_reply_setup(client) -> dict:
    """A reply over 20,000 bytes: 查看 of an indicator with 50 long links."""
    ding_post(client, ding_payload("绑定 司法局", "msg-l1"))
    urls = " ".join(f"https://www.example.gov.cn/{'a' * 300}/{i}.html" for i in range(50))
    assert ding_post(client, ding_payload(f"提交 4 {urls}", "msg-l2")).status_code == 200


def test_long_reply_continues_through_the_session_webhook(hook_client, hook_rt, stub):
    long_reply_setup(hook_client)
    payload = ding_payload("查看 4 全部", "msg-long", oapi_base=stub.url)
    first = body_of(ding_post(hook_client, payload))
    text = content_of(first)
    assert text.startswith("(1/")
    n = int(text[3 : text.index(")")])
    assert n >= 2
    assert len(json.dumps(first, ensure_ascii=False).encode()) <= 20000
    pushes = [j for j in jobs(hook_rt) if j.func_name == delivery.PUSH_JOB]
    assert len(pushes) == 1 and pushes[0].kwargs["parts"] == list(range(1, n))
    # a redelivery answers part 1 again and queues nothing more
    assert body_of(ding_post(hook_client, payload)) == first
    assert len([j for j in jobs(hook_rt) if j.func_name == delivery.PUSH_JOB]) == 1

    work(hook_rt)
    sent = stub.requests_to(DINGTALK_SESSION, key="sess-msg-long")
    assert [r.json["markdown"]["text"].split("\n")[0] for r in sent] == [
        f"({i}/{n})" for i in range(2, n + 1)
    ]
    assert all(len(r.body) <= 20000 for r in sent)
    whole = "\n\n".join(
        strip_part_prefix(b["markdown"]["text"]) for b in [first] + [r.json for r in sent]
    )
    assert all(f"/{i}.html" in whole for i in range(50))  # nothing lost between parts


def test_long_reply_without_a_valid_session_is_truncated(hook_client, hook_rt, stub):
    long_reply_setup(hook_client)
    payload = ding_payload("查看 4 全部", "msg-expired", session_ms=-1000, oapi_base=stub.url)
    body = body_of(ding_post(hook_client, payload))
    assert content_of(body).endswith("…")
    assert len(json.dumps(body, ensure_ascii=False).encode()) <= 20000
    assert not [j for j in jobs(hook_rt) if j.func_name == delivery.PUSH_JOB]


def test_a_redelivered_batch_of_done_marks_each_item_once(hook_client, hook_rt):
    """「完成 12-16」 sent by DingTalk, then sent again (a redelivery): each item changes once
    and the second copy is answered with the first one's reply."""
    ding_post(hook_client, ding_payload("绑定 司法局", "msg-bd0"))
    for n in (12, 15, 16):
        ding_post(hook_client, ding_payload(f"说明 {n} 已整理", f"msg-bd-{n}"))
    audit = hook_rt.store.audit.length()
    payload = ding_payload("完成 12－16", "msg-batch")
    first = content_of(body_of(ding_post(hook_client, payload)))
    assert "「完成」共 5 项：3 项已办理，2 项未办理" in first
    assert "司法局 不负责第 13 项" in first and "司法局 不负责第 14 项" in first
    assert hook_rt.store.audit.length() == audit + 3
    again = content_of(body_of(ding_post(hook_client, payload)))
    assert again == first and hook_rt.store.audit.length() == audit + 3

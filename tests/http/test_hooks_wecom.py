"""GET|POST /hooks/wecom (the smart bot, https://developer.work.weixin.qq.com/document/path/100719)
through Flask's test client, with callbacks encrypted and signed by wechatpy and replies decrypted by it."""

from __future__ import annotations

import json
import logging
import threading
import time
import xml.etree.ElementTree as ET

import redis
from wechatpy.crypto import WeChatCrypto as WechatpyCrypto

from bot.store import RedisStore
from bot.store.assignments import Assignments
from tests.http.callbacks import (
    LIMIT,
    WECOM_TOKEN,
    handshake_query,
    smartbot_crypto,
    smartbot_json,
    smartbot_request,
)

SECRET_WORD = "绝密内容XYZ"
OTHER_KEY = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA"


def state(rt) -> tuple[int, list[bytes]]:
    return rt.store.audit.length(), sorted(rt.redis.keys("hooks:*"))


def post(client, query: dict, body: bytes):
    return client.post(
        "/hooks/wecom", query_string=query, data=body, content_type="application/json"
    )


def decrypt_reply(resp) -> dict:
    """The stream reply as wechatpy reads it: the signature checked, the JSON decrypted."""
    assert resp.status_code == 200, resp.get_data(as_text=True)
    package = json.loads(resp.get_data())
    assert set(package) == {"encrypt", "msgsignature", "timestamp", "nonce"}
    plain = smartbot_crypto().decrypt_message(
        {"Encrypt": package["encrypt"]},
        package["msgsignature"],
        package["timestamp"],
        package["nonce"],
    )
    return json.loads(plain)


def say(client, text: str, msg_id: str):
    return post(client, *smartbot_request(smartbot_json(text, msg_id)))


# --- URL verification -----------------------------------------------------------------------------


def test_url_verification_answers_the_plaintext(hook_client):
    query = handshake_query(smartbot_crypto(), "7033183127891204355")
    resp = hook_client.get("/hooks/wecom", query_string=query)
    assert resp.status_code == 200
    # no quotes, no newline (https://developer.work.weixin.qq.com/document/path/90930)
    assert resp.get_data() == b"7033183127891204355"


def test_url_verification_with_a_bad_signature_is_401(hook_client, hook_rt):
    before = state(hook_rt)
    query = handshake_query(smartbot_crypto(), "123")
    query["msg_signature"] = "0" * 40
    assert hook_client.get("/hooks/wecom", query_string=query).status_code == 401
    query.pop("msg_signature")
    assert hook_client.get("/hooks/wecom", query_string=query).status_code == 401
    assert state(hook_rt) == before


def test_url_verification_with_a_stale_timestamp_is_401(hook_client):
    """A signed verification GET replayed a month later gets no echo (same window as callbacks)."""
    month_ago = int(time.time()) - 30 * 86400
    query = handshake_query(smartbot_crypto(), "7033183127891204355", timestamp=month_ago)
    resp = hook_client.get("/hooks/wecom", query_string=query)
    assert resp.status_code == 401
    assert b"7033183127891204355" not in resp.get_data()
    fresh = handshake_query(smartbot_crypto(), "7033183127891204355")
    assert hook_client.get("/hooks/wecom", query_string=fresh).status_code == 200


# --- replies -------------------------------------------------------------------------------------


def test_text_message_gets_an_encrypted_stream_reply(hook_client, hook_rt):
    audit = hook_rt.store.audit.length()
    reply = decrypt_reply(say(hook_client, "绑定 司法局", "CAIQmsg0001"))
    assert reply["msgtype"] == "stream"
    assert reply["stream"]["finish"] is True
    assert "已绑定到" in reply["stream"]["content"]
    assert hook_rt.store.audit.length() == audit + 1
    assert hook_rt.store.bindings.get("wecom", "zhangsan").department == "司法局"


def test_stream_refresh_and_events_are_answered_empty(hook_client, hook_rt):
    before = state(hook_rt)
    refresh = json.dumps({"msgid": "r1", "msgtype": "stream", "stream": {"id": "duban-x"}})
    resp = post(hook_client, *smartbot_request(refresh))
    assert resp.status_code == 200 and resp.get_data() == b""
    assert state(hook_rt) == before


# --- rejections -----------------------------------------------------------------------------------


def assert_rejected(resp, status, rt, before, caplog):
    assert resp.status_code == status
    assert state(rt) == before
    assert SECRET_WORD not in caplog.text


def test_bad_signature_is_401(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    query, body = smartbot_request(smartbot_json(f"绑定 司法局 {SECRET_WORD}", "m-bad"))
    query["msg_signature"] = query["msg_signature"][::-1]
    assert_rejected(post(hook_client, query, body), 401, hook_rt, before, caplog)


def test_stale_timestamp_is_401(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    old = int(time.time()) - 3601 - 5
    query, body = smartbot_request(smartbot_json(SECRET_WORD, "m-stale"), timestamp=old)
    assert_rejected(post(hook_client, query, body), 401, hook_rt, before, caplog)


def test_ciphertext_under_another_key_is_401(hook_client, hook_rt, caplog):
    """Signed with our token but encrypted with a key that is not ours: not from WeCom."""
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    theirs = WechatpyCrypto(WECOM_TOKEN, OTHER_KEY, "")
    ts = str(int(time.time()))
    root = ET.fromstring(theirs.encrypt_message(smartbot_json(SECRET_WORD, "m-key"), "42", ts))
    query = {"msg_signature": root.findtext("MsgSignature"), "timestamp": ts, "nonce": "42"}
    body = json.dumps({"encrypt": root.findtext("Encrypt")}).encode()
    assert_rejected(post(hook_client, query, body), 401, hook_rt, before, caplog)


def test_malformed_envelope_is_400(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    query, _ = smartbot_request(smartbot_json("x", "m-env"))
    for body in (
        f'{{"encrypt": "{SECRET_WORD}'.encode(),  # cut JSON
        b'{"encrypt": 12}',  # wrong type
        b'["encrypt"]',
        b"{}",
    ):
        assert_rejected(post(hook_client, query, body), 400, hook_rt, before, caplog)


def test_malformed_or_mistyped_plaintext_is_400(hook_client, hook_rt, caplog):
    """Properly encrypted and signed, but the JSON inside is broken or has wrong types."""
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    good = json.loads(smartbot_json(f"绑定 司法局 {SECRET_WORD}", "m-type"))
    bad = [
        f'{{"msgid": "m", "msgtype": "text", "text": {{"content": "{SECRET_WORD}',
        json.dumps({**good, "chattype": 2}),
        json.dumps({**good, "from": {"userid": 7}}),
        json.dumps({**good, "text": {"content": None}}),
        json.dumps({**good, "msgid": 123}),
    ]
    for plain in bad:
        resp = post(hook_client, *smartbot_request(plain))
        assert_rejected(resp, 400, hook_rt, before, caplog)


def test_body_over_64_kib_is_413(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    query, body = smartbot_request(smartbot_json(SECRET_WORD + "长" * (LIMIT // 3), "m-big"))
    assert len(body) > LIMIT
    assert_rejected(post(hook_client, query, body), 413, hook_rt, before, caplog)


# --- deduplication --------------------------------------------------------------------------------


def test_redelivery_gets_the_same_reply_and_changes_nothing(hook_client, hook_rt):
    plain = smartbot_json("绑定 司法局", "CAIQdup")
    first = decrypt_reply(post(hook_client, *smartbot_request(plain)))
    after = state(hook_rt)
    # WeCom re-sends the same message (a fresh envelope: new nonce and timestamp)
    again = decrypt_reply(post(hook_client, *smartbot_request(plain, nonce="999")))
    assert again == first  # same stream id, same content
    assert state(hook_rt) == after


def test_three_copies_at_the_same_moment_have_one_effect(hook_app, hook_rt):
    plain = smartbot_json("绑定 司法局", "CAIQtriple")
    audit = hook_rt.store.audit.length()
    barrier = threading.Barrier(3)
    replies: list = [None] * 3

    def deliver(i: int) -> None:
        client = hook_app.test_client()
        query, body = smartbot_request(plain, nonce=f"10{i}")
        barrier.wait()
        replies[i] = decrypt_reply(post(client, query, body))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert replies[0] is not None and replies[0] == replies[1] == replies[2]
    assert "已绑定到" in replies[0]["stream"]["content"]
    assert hook_rt.store.audit.length() == audit + 1


def test_a_lone_surrogate_in_the_json_is_replaced_and_answered(hook_client, hook_rt):
    """ "\\ud800" in the decrypted JSON: replaced at the parser, the command runs once."""
    decrypt_reply(say(hook_client, "绑定 司法局", "CAIQsurr0"))
    plain = smartbot_json("说明 12 第一段SURR第二段", "CAIQsurr1").replace("SURR", "\\ud800")
    reply = decrypt_reply(post(hook_client, *smartbot_request(plain)))
    assert "第12项" in reply["stream"]["content"]
    again = decrypt_reply(post(hook_client, *smartbot_request(plain, nonce="777")))
    assert again == reply
    a, _ = hook_rt.store.assignments.get(12, "司法局")
    assert a.explanation == "第一段\ufffd第二段"


class SaveFailsOnce(Assignments):
    """The assignments with Redis failing once at the save, after the message id was claimed (a fault
    at the Redis boundary: the first round trip worked, the second did not reach Redis)."""

    fail_at = 1  # which save fails: the first, unless a test says otherwise
    saves = 0

    def save(self, ch, fin=None):
        self.saves += 1
        if self.saves == self.fail_at:
            raise redis.ConnectionError("connection lost (injected)")
        return super().save(ch, fin)


def flaky_store(rt, fail_at: int = 1) -> RedisStore:
    """The runtime's store, its assignments failing at save number `fail_at`."""
    store = RedisStore(rt.redis, rt.settings.key_prefix, rt.store.clock)
    store.assignments = SaveFailsOnce(store.r, store.keys, store.clock, scripts=store.scripts)
    store.assignments.fail_at = fail_at
    return store


def test_a_save_that_failed_after_the_claim_does_not_block_the_redelivery(hook_client, hook_rt):
    decrypt_reply(say(hook_client, "绑定 司法局", "CAIQsave0"))
    flaky = flaky_store(hook_rt)
    hook_rt.store = hook_rt.dispatcher.store = flaky
    audit = hook_rt.store.audit.length()
    plain = smartbot_json("提交 12 https://www.example.gov.cn/a.html 方案", "CAIQsave1")
    first = post(hook_client, *smartbot_request(plain))
    assert first.status_code == 503  # not acknowledged: WeCom sends it again
    again = decrypt_reply(post(hook_client, *smartbot_request(plain, nonce="2")))
    assert "已收到第12项的 1 个链接" in again["stream"]["content"]
    third = decrypt_reply(post(hook_client, *smartbot_request(plain, nonce="3")))
    assert third == again
    a, _ = hook_rt.store.assignments.get(12, "司法局")
    assert [m.url for m in a.materials] == ["https://www.example.gov.cn/a.html"]
    assert hook_rt.store.audit.length() == audit + 1


def test_a_message_of_several_commands_whose_second_save_failed_is_completed_once(
    hook_client, hook_rt
):
    """Two commands in one message; the first is saved, the second's save does not reach Redis.
    The callback is not acknowledged, and its redelivery (the message's claim released too) runs
    the second command once and answers for both, the first with its stored reply."""
    decrypt_reply(say(hook_client, "绑定 司法局", "CAIQmulti0"))
    flaky = flaky_store(hook_rt, fail_at=2)
    hook_rt.store = hook_rt.dispatcher.store = flaky
    audit = hook_rt.store.audit.length()
    plain = smartbot_json("说明 12 第一条\n说明 16 第二条", "CAIQmulti1")
    assert post(hook_client, *smartbot_request(plain)).status_code == 503
    again = decrypt_reply(post(hook_client, *smartbot_request(plain, nonce="2")))
    content = again["stream"]["content"]
    assert "已保存第12项的报送说明" in content and "已保存第16项的报送说明" in content
    third = decrypt_reply(post(hook_client, *smartbot_request(plain, nonce="3")))
    assert third == again
    assert hook_rt.store.assignments.get(12, "司法局")[0].explanation == "第一条"
    assert hook_rt.store.assignments.get(16, "司法局")[0].explanation == "第二条"
    assert hook_rt.store.audit.length() == audit + 2


def test_a_redelivery_while_a_dead_first_copy_holds_the_claim_is_not_acknowledged(
    hook_client, hook_rt
):
    """The first copy claimed the message and died before committing anything (its process was
    killed): the claim stays CLAIM_TTL_S. A redelivery meanwhile is answered 503, not an empty
    200 that would end WeCom's retries and lose the command; once the claim is gone, the next
    delivery runs the command once."""
    plain = smartbot_json("绑定 司法局", "CAIQdead")
    assert hook_rt.store.inbox.claim("wecom", "CAIQdead") == (True, "")  # the dead first copy
    before = state(hook_rt)
    resp = post(hook_client, *smartbot_request(plain, nonce="501"))
    assert resp.status_code == 503
    assert state(hook_rt) == before  # nothing ran
    hook_rt.redis.delete(hook_rt.store.keys.seen("wecom", "CAIQdead"))  # the claim expired
    again = decrypt_reply(post(hook_client, *smartbot_request(plain, nonce="502")))
    assert "已绑定到" in again["stream"]["content"]
    assert hook_rt.store.audit.length() == before[0] + 1

"""GET|POST /hooks/wecom-app (the self-built app,
https://developer.work.weixin.qq.com/document/path/90238) through Flask's test client,
with XML callbacks encrypted and signed by wechatpy and passive replies decrypted by it."""

from __future__ import annotations

import json
import logging
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from bot.web.hooks import HookRoutes
from tests.http.callbacks import (
    CORP_ID,
    LIMIT,
    app_crypto,
    app_request,
    app_text_xml,
    handshake_query,
)
from tests.http.conftest import runtime_for
from tests.http.conftest import testing_app as app_for

SECRET_WORD = "绝密内容XYZ"


def state(rt) -> tuple[int, list[bytes]]:
    return rt.store.audit.length(), sorted(rt.redis.keys("hooks:*"))


def post(client, query: dict, body: bytes):
    return client.post(
        "/hooks/wecom-app", query_string=query, data=body, content_type="application/xml"
    )


def decrypt_reply(resp) -> ET.Element:
    """The passive reply as wechatpy reads it (signature checked), parsed."""
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.content_type.startswith("application/xml")
    root = ET.fromstring(resp.get_data())
    plain = app_crypto().decrypt_message(
        resp.get_data(as_text=True),
        root.findtext("MsgSignature"),
        root.findtext("TimeStamp"),
        root.findtext("Nonce"),
    )
    return ET.fromstring(plain)


def say(client, text: str, msg_id: str):
    return post(client, *app_request(app_text_xml(text, msg_id)))


def test_url_verification_answers_the_plaintext(hook_client):
    query = handshake_query(app_crypto(), "1234567890123456789")
    resp = hook_client.get("/hooks/wecom-app", query_string=query)
    assert resp.status_code == 200 and resp.get_data() == b"1234567890123456789"


def test_url_verification_with_a_bad_signature_is_401(hook_client, hook_rt):
    before = state(hook_rt)
    query = handshake_query(app_crypto(), "123")
    query["timestamp"] = str(int(query["timestamp"]) + 1)  # signature no longer matches
    assert hook_client.get("/hooks/wecom-app", query_string=query).status_code == 401
    assert state(hook_rt) == before


def test_url_verification_with_a_stale_timestamp_is_401(hook_client):
    """A signed verification GET replayed a month later gets no echo (same window as callbacks)."""
    month_ago = int(time.time()) - 30 * 86400
    query = handshake_query(app_crypto(), "1234567890123456789", timestamp=month_ago)
    resp = hook_client.get("/hooks/wecom-app", query_string=query)
    assert resp.status_code == 401
    assert b"1234567890123456789" not in resp.get_data()


def test_text_message_gets_an_encrypted_passive_reply(hook_client, hook_rt):
    audit = hook_rt.store.audit.length()
    inner = decrypt_reply(say(hook_client, "绑定 司法局", "7300000000000000001"))
    assert inner.findtext("ToUserName") == "zhangsan"
    assert inner.findtext("FromUserName") == CORP_ID
    assert inner.findtext("MsgType") == "text"
    assert "已绑定到司法局" in inner.findtext("Content")  # text: markup stripped
    assert hook_rt.store.audit.length() == audit + 1


def test_event_is_answered_empty(hook_client, hook_rt):
    before = state(hook_rt)
    event = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName>zhangsan</FromUserName>"
        "<CreateTime>1700000000</CreateTime><MsgType>event</MsgType>"
        "<Event>enter_agent</Event></xml>"
    )
    resp = post(hook_client, *app_request(event))
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
    query, body = app_request(app_text_xml(f"绑定 司法局 {SECRET_WORD}", "1"))
    query["nonce"] = "other"
    assert_rejected(post(hook_client, query, body), 401, hook_rt, before, caplog)


def test_stale_timestamp_is_401(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    old = int(time.time()) - 2 * 3600
    query, body = app_request(app_text_xml(SECRET_WORD, "2"), timestamp=old)
    assert_rejected(post(hook_client, query, body), 401, hook_rt, before, caplog)


def test_malformed_xml_is_400(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    query, _ = app_request(app_text_xml("x", "3"))
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "' + SECRET_WORD + '">]>'
        "<xml><Encrypt>&a;</Encrypt></xml>"
    )
    for body in (
        f"<xml><Encrypt><![CDATA[{SECRET_WORD}".encode(),  # cut
        bomb.encode(),  # entity declarations are refused
        b"<xml><Encrypt><a>1</a></Encrypt></xml>",  # element where text belongs
        b"<xml></xml>",  # no Encrypt
        b"not xml at all",
    ):
        assert_rejected(post(hook_client, query, body), 400, hook_rt, before, caplog)


def test_malformed_plaintext_is_400(hook_client, hook_rt, caplog):
    """Properly encrypted and signed by wechatpy, but the XML inside is broken."""
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    for plain in (
        f"<xml><MsgType>text</MsgType><Content>{SECRET_WORD}",
        "<xml><FromUserName>u</FromUserName><Content>x</Content></xml>",  # no MsgType
        "<xml><MsgType>text</MsgType><FromUserName><b/></FromUserName></xml>",
    ):
        resp = post(hook_client, *app_request(plain))
        assert_rejected(resp, 400, hook_rt, before, caplog)


def test_body_over_64_kib_is_413(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    query, body = app_request(app_text_xml(SECRET_WORD + "长" * (LIMIT // 3), "4"))
    assert len(body) > LIMIT
    assert_rejected(post(hook_client, query, body), 413, hook_rt, before, caplog)


# --- deduplication --------------------------------------------------------------------------------


def test_redelivery_gets_the_same_reply_and_changes_nothing(hook_client, hook_rt):
    plain = app_text_xml("绑定 司法局", "7300000000000000009")
    first = decrypt_reply(post(hook_client, *app_request(plain)))
    after = state(hook_rt)
    again = decrypt_reply(post(hook_client, *app_request(plain, nonce="31337")))
    assert again.findtext("Content") == first.findtext("Content")
    assert state(hook_rt) == after


def test_three_copies_at_the_same_moment_have_one_effect(hook_app, hook_rt):
    plain = app_text_xml("绑定 司法局", "7300000000000000077")
    audit = hook_rt.store.audit.length()
    barrier = threading.Barrier(3)
    contents: list = [None] * 3

    def deliver(i: int) -> None:
        client = hook_app.test_client()
        query, body = app_request(plain, nonce=f"20{i}")
        barrier.wait()
        contents[i] = decrypt_reply(post(client, query, body)).findtext("Content")

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert contents[0] is not None and contents[0] == contents[1] == contents[2]
    assert "已绑定到司法局" in contents[0]
    assert hook_rt.store.audit.length() == audit + 1


def test_url_verification_vector_as_wecom_sends_it(hook_settings, redis_client, clock):
    """V-W2's echostr exactly as it arrives, percent-encoded in the raw query string, through
    the WSGI adapter's own query parsing (not a decoded dict)."""
    vectors = json.loads(
        (Path(__file__).resolve().parents[1] / "fixtures" / "wecom_vectors.json").read_text(
            encoding="utf-8"
        )
    )["deterministic"]
    settings = hook_settings.with_(
        wecom_app_token=vectors["token"],
        wecom_app_aes_key=vectors["encoding_aes_key"],
        wecom_corp_id=vectors["corpid"],
    )
    for rt in runtime_for(settings, clock):
        v = vectors["verify"]
        raw = (
            f"msg_signature={v['msg_signature']}&timestamp={vectors['timestamp']}"
            f"&nonce={vectors['nonce']}&echostr={v['echostr_urlencoded']}"
        )
        app = app_for(rt)
        # The vector is signed at its own time, and a verification must be fresh.
        hook_routes = app.wsgi_app
        while not isinstance(hook_routes, HookRoutes):  # under bot.web.bodies' layer
            hook_routes = hook_routes.app
        hook_routes.clock_ms = lambda: int(vectors["timestamp"]) * 1000
        resp = app.test_client().get(f"/hooks/wecom-app?{raw}")
        assert resp.status_code == 200
        assert resp.get_data() == v["echostr_plain"].encode()  # the bare plaintext


def test_a_surrogate_character_reference_is_refused_once_as_malformed(hook_client, hook_rt):
    """XML 1.0 has no surrogate code points: &#xD800; is a malformed document (400), not a
    500 that WeCom would retry."""
    before = state(hook_rt)
    for text in ("说明 12 a&#xD800;b", "说明 12 a&#55296;b"):
        plain = app_text_xml("PLACEHOLDER", "5").replace("<![CDATA[PLACEHOLDER]]>", text)
        assert post(hook_client, *app_request(plain)).status_code == 400
    assert state(hook_rt) == before

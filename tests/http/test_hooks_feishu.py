"""POST /hooks/feishu through Flask's test client with events encrypted and signed for real: the
URL verification, a Feishu group going through 绑定, 我的任务, 提交 and 完成 with every reply
posted by a real RQ worker to the stub's reply API with a tenant access token, redeliveries
with one effect, rejections that touch nothing, a refused token fetched anew, and pushes to a
Feishu chat through the app bot and through a signed custom bot."""

from __future__ import annotations

import json
import logging

import pytest

from bot.config import Settings
from bot.platforms.feishu.bodies import text_of
from bot.progress import Status
from tests.http.callbacks import (
    FEISHU_APP_ID,
    FEISHU_APP_SECRET,
    FEISHU_CHAT,
    FEISHU_ENCRYPT_KEY,
    LIMIT,
    feishu_encrypt,
    feishu_message,
    feishu_post,
    feishu_request,
    use_feishu_groups,
)
from tests.http.conftest import work
from tests.stubs.platform_server import FEISHU_HOOK, FEISHU_MESSAGES, FEISHU_REPLY, FEISHU_TOKEN

SECRET_WORD = "绝密内容XYZ"  # put in rejected bodies; must never reach the log
DEPT = "司法局"


@pytest.fixture
def hook_settings(hook_settings, stub, tmp_path, monkeypatch):
    """The shared hook settings, with an org whose 司法局 chats are a Feishu group (pushed by the
    app bot) and a second Feishu group reached only by a signed custom bot; the stub hands out
    tokens for our app only and checks the custom bot's signature."""
    use_feishu_groups(stub, tmp_path, monkeypatch)
    return Settings.from_env()


def state(rt) -> tuple[int, list[bytes]]:
    """What a callback may change: the audit log and the keys under our prefix."""
    return rt.store.audit.length(), sorted(rt.redis.keys("hooks:*"))


def say(client, text: str, message_id: str, **kw):
    resp = feishu_post(client, feishu_message(text, message_id, **kw))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert json.loads(resp.get_data()) == {"msg": "success"}


def replies(stub, message_id: str) -> list[str]:
    return [text_of(r.json) for r in stub.requests_to(FEISHU_REPLY, key=message_id)]


# --- URL verification ---------------------------------------------------------------------------


def test_the_encrypted_url_verification_is_answered_and_stores_nothing(hook_client, hook_rt):
    before = state(hook_rt)
    challenge = {"challenge": "c-7f3a", "token": hook_rt.settings.feishu_verification_token,
                 "type": "url_verification"}  # fmt: skip
    body = json.dumps({"encrypt": feishu_encrypt(json.dumps(challenge))})
    resp = hook_client.post("/hooks/feishu", data=body, content_type="application/json")
    assert resp.status_code == 200 and resp.get_json() == {"challenge": "c-7f3a"}
    assert state(hook_rt) == before


# --- a group's day ------------------------------------------------------------------------------


def test_a_feishu_group_binds_lists_submits_and_completes(hook_client, hook_rt, stub):
    audit = hook_rt.store.audit.length()
    say(hook_client, "绑定 司法局", "om_bind")
    assert hook_rt.store.audit.length() == audit  # acknowledged at once; the worker answers
    work(hook_rt)
    assert hook_rt.store.bindings.get("feishu", "ou_user_zhang").department == DEPT
    [text] = replies(stub, "om_bind")
    assert "已绑定到" in text and DEPT in text

    say(hook_client, "我的任务", "om_tasks")
    work(hook_rt)
    [tasks] = replies(stub, "om_tasks")
    assert "司法局 · 共" in tasks

    url = "https://www.example.gov.cn/sifa/12.html"
    say(hook_client, f"提交 12 {url} 双随机抽查实施方案", "om_submit")
    work(hook_rt)
    [submitted] = replies(stub, "om_submit")
    assert "第12项" in submitted
    say(hook_client, "完成 12", "om_done")
    work(hook_rt)
    [done] = replies(stub, "om_done")
    assert "第12项已标记完成" in done

    a, _ = hook_rt.store.assignments.get(12, DEPT)
    assert a.status is Status.DONE and [m.url for m in a.materials] == [url]
    # every reply went to its own message's reply API with the one cached tenant token
    sent = stub.requests_to(FEISHU_REPLY)
    assert [r.key for r in sent] == ["om_bind", "om_tasks", "om_submit", "om_done"]
    assert len(stub.requests_to(FEISHU_TOKEN)) == 1
    token = stub.requests_to(FEISHU_TOKEN)[0]
    assert token.json == {"app_id": FEISHU_APP_ID, "app_secret": FEISHU_APP_SECRET}
    assert {r.headers["authorization"] for r in sent} == {"Bearer t-stub-1"}
    assert all(r.json["msg_type"] in ("text", "interactive") and r.json["uuid"] for r in sent)
    assert len({r.json["uuid"] for r in sent}) == 4


def test_in_a_departments_own_feishu_group_people_act_for_it_without_binding(
    hook_client, hook_rt, stub
):
    """The 司法局 group listed in org.yaml is that department's own, as a DingTalk or WeCom one
    is: an unbound member's 我的任务 there lists 司法局's items, and the group is told once."""
    say(hook_client, "我的任务", "om_own", user="ou_user_li")
    work(hook_rt)
    [tasks] = replies(stub, "om_own")
    assert "司法局 · 共" in tasks and "本群是司法局的工作群" in tasks
    assert hook_rt.store.bindings.get("feishu", "ou_user_li") is None


def test_the_binding_is_pushed_to_the_group_by_the_app_and_by_the_signed_custom_bot(
    hook_client, hook_rt, stub
):
    say(hook_client, "绑定 司法局", "om_bind_push")
    work(hook_rt)  # answers, then drains the outbox into pushes, then pushes
    [app] = stub.requests_to(FEISHU_MESSAGES, key=FEISHU_CHAT)
    [bot] = stub.requests_to(FEISHU_HOOK, key="hook-sifa")
    assert app.query == {"receive_id_type": "chat_id"} and app.json["receive_id"] == FEISHU_CHAT
    assert app.headers["authorization"].startswith("Bearer t-stub-")
    assert bot.json["timestamp"].isdigit() and bot.json["sign"]  # accepted: the stub checked it
    assert text_of(app.json) == text_of(bot.json) and DEPT in text_of(app.json)
    assert hook_rt.store.delivery.dead_letters() == []


def test_a_one_to_one_message_is_answered(hook_client, hook_rt, stub):
    say(hook_client, "帮助", "om_p2p", group=False)
    work(hook_rt)
    [text] = replies(stub, "om_p2p")
    assert "绑定" in text


def test_a_redelivered_event_has_one_effect_and_one_reply(hook_client, hook_rt, stub):
    audit = hook_rt.store.audit.length()
    say(hook_client, "绑定 司法局", "om_twice")
    say(hook_client, "绑定 司法局", "om_twice")  # Feishu retries: same message, signed anew
    work(hook_rt)
    say(hook_client, "绑定 司法局", "om_twice")  # and once more after it was answered
    work(hook_rt)
    assert len(replies(stub, "om_twice")) == 1
    assert hook_rt.store.audit.length() == audit + 1  # bound once


def test_a_refused_token_is_fetched_anew_and_the_reply_still_arrives(hook_client, hook_rt, stub):
    say(hook_client, "帮助", "om_t1")
    work(hook_rt)
    stub.revoke_feishu_tokens()  # e.g. the app secret was reset in the console
    say(hook_client, "帮助", "om_t2")
    work(hook_rt)
    refused, accepted = stub.requests_to(FEISHU_REPLY, key="om_t2")
    assert refused.headers["authorization"] == "Bearer t-stub-1"  # answered 99991663
    assert accepted.headers["authorization"] == "Bearer t-stub-2"
    assert refused.json == accepted.json  # the same part, the same idempotency uuid
    assert len(stub.requests_to(FEISHU_TOKEN)) == 2
    assert hook_rt.store.delivery.dead_letters() == []


# --- rejections ---------------------------------------------------------------------------------


def assert_rejected(resp, status, rt, before, caplog):
    assert resp.status_code == status
    assert state(rt) == before  # no dedupe key, no inbox entry, no audit entry
    assert SECRET_WORD not in caplog.text
    assert FEISHU_ENCRYPT_KEY not in caplog.text


def test_forged_stale_or_unsigned_events_are_401(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    event = feishu_message(f"绑定 司法局 {SECRET_WORD}", "om_bad")
    headers, body = feishu_request(event)
    forged = {**headers, "X-Lark-Signature": "ab" * 32}
    assert_rejected(
        hook_client.post("/hooks/feishu", data=body, headers=forged), 401, hook_rt, before, caplog
    )
    stale = feishu_post(
        hook_client, event, timestamp=int(headers["X-Lark-Request-Timestamp"]) - 4000
    )
    assert_rejected(stale, 401, hook_rt, before, caplog)
    unsigned = {"content-type": "application/json"}
    resp = hook_client.post("/hooks/feishu", data=body, headers=unsigned)
    assert_rejected(resp, 401, hook_rt, before, caplog)
    other_key = feishu_post(hook_client, event, key="someone else's key")
    assert_rejected(other_key, 401, hook_rt, before, caplog)
    wrong_token = feishu_message(f"绑定 司法局 {SECRET_WORD}", "om_tok", token="forged-token")
    assert_rejected(feishu_post(hook_client, wrong_token), 401, hook_rt, before, caplog)


def test_malformed_events_are_400_and_oversized_ones_413(hook_client, hook_rt, caplog):
    caplog.set_level(logging.DEBUG)
    before = state(hook_rt)
    not_json = f'{{"schema": "2.0", "header": {SECRET_WORD}'.encode()
    assert_rejected(feishu_post(hook_client, not_json), 400, hook_rt, before, caplog)
    event = feishu_message(f"绑定 {SECRET_WORD}", "om_mal")
    event["event"]["message"]["content"] = "{not json " + SECRET_WORD
    assert_rejected(feishu_post(hook_client, event), 400, hook_rt, before, caplog)
    big = feishu_message(SECRET_WORD + "长" * (LIMIT // 3), "om_big")
    assert_rejected(feishu_post(hook_client, big), 413, hook_rt, before, caplog)


def test_other_events_are_acknowledged_and_change_nothing(hook_client, hook_rt, stub):
    before = state(hook_rt)
    event = feishu_message("绑定 司法局", "om_audio")
    event["event"]["message"]["message_type"] = "audio"  # pictures and files are read now
    resp = feishu_post(hook_client, event)
    assert resp.status_code == 200 and resp.get_json() == {"msg": "success"}
    work(hook_rt)
    assert state(hook_rt) == before and stub.requests == []


def test_a_push_waiting_for_the_token_is_not_taken_for_a_dead_one(hook_settings, hook_rt, stub):
    """A part's claim covers its POST only: a worker still waiting for the tenant token (another
    worker holds the token lock and is fetching it) has not claimed the part yet, so a second
    run of the same push (its lease swept meanwhile) never finds an expired claim, marks the part
    "uncertain" and lists a dead letter for a message that then arrives. Before the fix the
    claim was taken before the token was fetched, and outlived by the wait."""
    import threading
    import time
    from dataclasses import replace

    from bot import delivery
    from bot.messages import Notice
    from bot.platforms.feishu.sender import tenant_token

    settings = replace(hook_settings, push_timeout_s=0.2)  # a claim of 0.2 + 0.2 + 2 s
    ctx = replace(hook_rt.delivery, settings=settings)
    [target] = [t for t in delivery.targets_of(ctx.org, DEPT) if t.chat_id == FEISHU_CHAT]
    spec = delivery.notice_spec("1-0", Notice("令牌等待中的通知", DEPT), delivery.target_fp(target))
    hook_rt.store.delivery.drop_token("feishu", hook_rt.store.delivery.cached_token("feishu"))
    assert hook_rt.store.scheduler.hold_lock("feishu-token", "other-worker", 10_000)
    outcomes: list[str] = []
    first = threading.Thread(target=lambda: outcomes.append(delivery.run_push(ctx, spec)))
    first.start()
    time.sleep(ctx.claim_ms / 1000 + 0.5)  # past the claim's deadline, still waiting for a token
    second = threading.Thread(target=lambda: outcomes.append(delivery.run_push(ctx, spec)))
    second.start()
    time.sleep(0.3)
    hook_rt.store.scheduler.release_lock("feishu-token", "other-worker")
    tenant_token(delivery.Wire(ctx))  # the other worker's fetch arrives: the waiters take its token
    first.join(15)
    second.join(15)
    # one run posts it; the other finds it sent, or (still posting) busy and comes back later
    assert len(outcomes) == 2 and set(outcomes) <= {"sent", "deferred"} and "sent" in outcomes
    assert [text_of(r.json) for r in stub.requests_to(FEISHU_MESSAGES, key=FEISHU_CHAT)] == [
        "令牌等待中的通知"
    ]
    assert hook_rt.store.delivery.dead_letters() == []

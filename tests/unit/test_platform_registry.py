"""The platform registry and contract: every built-in adapter is found without a list, declares
its ack mode and answers the whole contract (no optional methods looked up at run time), and
bot.platforms.base imports no adapter (the registry does), so there is no import cycle. Each
platform declares its sending side (cool-down, whose ids it can @-mention); delivery asks the
registry, and a family nobody declared is an error, not DingTalk's rules by default."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from bot import delivery
from bot.config import Settings
from bot.messages import HttpIn, Incoming, Reply
from bot.platforms import base
from bot.platforms.base import Outbound
from bot.platforms.registry import (
    builtin,
    builtin_outbound,
    outbound,
    platforms_for,
    register_outbound,
    unregister_outbound,
)

ALL_ON = Settings(
    dingtalk_app_key="k", dingtalk_app_secret="s", dingtalk_robot_code="r",
    wecom_token="t", wecom_aes_key="A" * 43,
    wecom_app_token="t", wecom_app_aes_key="A" * 43, wecom_corp_id="ww1",
    feishu_app_id="cli_1", feishu_app_secret="s", feishu_verification_token="v",
)  # fmt: skip
CONTRACT = ("handshake", "verify", "parse", "later", "reply_plan", "render_reply")


def test_every_built_in_platform_is_found_and_enabled_by_its_settings():
    assert set(builtin()) == {"dingtalk", "feishu", "wecom", "wecom_app"}
    assert set(platforms_for(ALL_ON)) == {"dingtalk", "feishu", "wecom", "wecom-app"}
    assert platforms_for(Settings()) == {}


def test_every_platform_declares_its_ack_mode_and_the_whole_contract():
    modes = {}
    for route, platform in platforms_for(ALL_ON).items():
        assert platform.name == route
        for method in CONTRACT:
            assert callable(getattr(platform, method, None)), (route, method)
        modes[route] = platform.ack_mode
    assert modes == {
        "dingtalk": "ack_then_answer",  # DUBAN_DINGTALK_REPLY=queue, the default
        "feishu": "ack_then_answer",
        "wecom": "answer_in_response",
        "wecom-app": "answer_in_response",
    }
    inline = platforms_for(ALL_ON.with_(dingtalk_reply="inline"))["dingtalk"]
    assert inline.ack_mode == "answer_in_response"


def test_a_platform_that_answers_in_the_response_never_answers_later():
    wecom = platforms_for(ALL_ON)["wecom"]
    req = HttpIn("POST", "/hooks/wecom", {}, {}, b"")
    msg = Incoming(platform="wecom", user_id="u", text="帮助", message_id="m1")
    assert wecom.later(req, msg, 0) is None
    out, follow = wecom.reply_plan(req, msg, Reply.quiet(), 0)
    assert out.status == 200 and follow is None


def test_base_imports_no_platform_adapter():
    tree = ast.parse(Path(inspect.getfile(base)).read_text(encoding="utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not {m for m in imported if m.startswith("bot.platforms.")}, imported


# --- the sending side ---------------------------------------------------------------------------


def route(family: str) -> delivery.Route:
    return delivery.Route(f"{family}_webhook", family, "robot-1", "群机器人")


def test_each_family_rests_as_long_as_its_own_setting_says():
    s = Settings(cooldown_dingtalk_s=601, cooldown_wecom_s=61, cooldown_feishu_s=62)
    ctx = delivery.Delivery(s, None, None, None)
    got = {f: ctx.cooldown_s(route(f)) for f in ("dingtalk", "wecom", "feishu")}
    assert got == {"dingtalk": 601, "wecom": 61, "feishu": 62}
    assert set(builtin_outbound()) == {"dingtalk", "wecom", "feishu"}


def test_a_family_nobody_declared_borrows_no_other_platforms_rules():
    ctx = delivery.Delivery(Settings(), None, None, None)
    with pytest.raises(ValueError, match="toy"):
        ctx.cooldown_s(route("toy"))  # not DingTalk's 10 minutes by default
    with pytest.raises(ValueError, match="toy"):
        delivery.mentions_on("toy", ["toy:u1"])


def test_a_platform_from_outside_declares_its_sending_side():
    spec = Outbound("toy", cooldown_s=lambda s: 5, mentionable=("toy",),
                    can_mention=lambda uid: uid != "nobody")  # fmt: skip
    register_outbound(spec)
    try:
        ctx = delivery.Delivery(Settings(), None, None, None)
        assert ctx.cooldown_s(route("toy")) == 5
        mentions = ["toy:u1", "dingtalk:staff1", "toy:nobody", "wecom:zhang"]
        assert delivery.mentions_on("toy", mentions) == ["u1"]
        with pytest.raises(ValueError):
            register_outbound(Outbound("wecom", lambda s: 1, ("wecom",)))
    finally:
        unregister_outbound("toy")
    assert outbound("dingtalk").can_mention("$:LWCP_v1:$abc") is False
    assert delivery.mentions_on("wecom", ["wecom_app:li", "wecom:zhang", "feishu:ou_1"]) == [
        "li",
        "zhang",
    ]


@pytest.mark.parametrize("module", ["bot/platforms/base.py", "bot/render.py"])
def test_the_common_modules_name_no_platform(module):
    """What is common knows no platform: no name, attribute or string of its code spells one
    (docstrings and comments may cite a vendor's document)."""
    root = Path(inspect.getfile(base)).parents[2]
    tree = ast.parse((root / module).read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    words = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            words.add(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                words.add(node.value)
    found = {w for w in words for p in ("dingtalk", "wecom", "feishu") if p in w.lower()}
    assert not found, found


def test_org_yaml_chats_take_the_fields_their_platform_declares():
    """A chat's fields are its platform's (Sender.chat_fields): another platform's field is
    refused, and a platform registered from outside brings its own, its group key included."""
    from bot.messages import ChatTarget
    from bot.org import OrgError, org_from_dict

    def org_with(chat: dict) -> dict:
        return {"departments": [{"name": "司法局", "tags": ["部门"], "chats": [chat]}]}

    got = org_from_dict(org_with({"platform": "wecom", "webhook_key": "k1", "chat_id": "wr1"}))
    assert got.chats_of("司法局") == (ChatTarget("wecom", webhook_key="k1", chat_id="wr1"),)
    assert got.department_of_chat("wecom", "wr1") == "司法局"
    with pytest.raises(OrgError, match="unknown field 'webhook'"):
        org_from_dict(org_with({"platform": "wecom", "webhook": "https://x"}))
    with pytest.raises(OrgError, match="must be one of"):
        org_from_dict(org_with({"platform": "toy", "room": "r1"}))
    register_outbound(Outbound("toy", lambda s: 5, ("toy",), chat_fields=("room",),
                               address=("room",), chat_key="room"))  # fmt: skip
    try:
        toy = org_from_dict(org_with({"platform": "toy", "room": "r1"}))
        assert toy.chats_of("司法局")[0].room == "r1"
        assert toy.department_of_chat("toy", "r1") == "司法局"
        assert delivery.route_for(Settings(), toy.chats_of("司法局")[0]) is None  # no routes
        with pytest.raises(OrgError, match="'room' is required for toy"):
            org_from_dict(org_with({"platform": "toy"}))
    finally:
        unregister_outbound("toy")


def test_a_chat_of_a_built_in_platform_keeps_the_fingerprint_its_queued_pushes_carry():
    """Pushes waiting in the outbox or in a lease name their chat by a fingerprint made before
    the platforms declared their own fields: platform|conversation_id|chat_id|webhook|
    webhook_key. The same chats must give the same fingerprints after the upgrade, or those
    pushes would be dead letters (「推送目标已不在配置中」)."""
    import hashlib

    from bot.delivery import target_fp
    from bot.messages import ChatTarget

    def before(platform, conversation_id="", chat_id="", webhook="", webhook_key=""):
        raw = "|".join((platform, conversation_id, chat_id, webhook, webhook_key))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]

    assert target_fp(ChatTarget("wecom", webhook_key="robot-1")) == before(
        "wecom", webhook_key="robot-1"
    )
    assert target_fp(ChatTarget("dingtalk", conversation_id="cid-1")) == before(
        "dingtalk", conversation_id="cid-1"
    )
    hook = "https://oapi.dingtalk.com/robot/send?access_token=x"
    assert target_fp(ChatTarget("dingtalk", webhook=hook, secret="SEC")) == before(
        "dingtalk", webhook=hook
    )
    both = ChatTarget("feishu", chat_id="oc_1", webhook="https://f/hook", secret="s")
    assert target_fp(both) == before("feishu", chat_id="oc_1", webhook="https://f/hook")
    # a platform with fields of its own is named by them, and two of its chats differ
    assert target_fp(ChatTarget("toy", url="a")) != target_fp(ChatTarget("toy", url="b"))

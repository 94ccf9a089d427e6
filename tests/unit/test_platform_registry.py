"""The platform registry and contract: every built-in adapter is found without a list, declares
its ack mode and answers the whole contract (no optional methods looked up at run time), and
bot.platforms.base imports no adapter (the registry does), so there is no import cycle."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from bot.config import Settings
from bot.messages import HttpIn, Incoming, Reply
from bot.platforms import base
from bot.platforms.registry import builtin, platforms_for

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

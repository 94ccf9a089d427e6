"""One person's binding changes within Settings.binding_notice_s of an announced one are folded:
no notice each, one summary per department they touched when the window ends (bot.bindings)."""

from __future__ import annotations

import time

import pytest

from bot import bindings
from bot.runtime import build_runtime
from tests.outbox import read_outbox
from tests.store.conftest import Chat, new_client


@pytest.fixture
def frt(settings, redis_client, clock):
    runtime = build_runtime(
        settings.with_(binding_notice_s=1),
        clock=clock,
        client=new_client(settings),
    )
    yield runtime
    runtime.redis.close()


def binding_notices(rt) -> list[tuple[str, str]]:
    return [(n.department, n.text) for _, n, _ in read_outbox(rt.store) if n.kind == "binding"]


def test_changes_within_the_window_are_told_once_per_department_when_it_ends(frt):
    me = Chat(frt, "u1", "小王")
    me("绑定 司法局")
    for text in ("解绑", "绑定 民政局", "绑定 司法局", "绑定 民政局"):
        assert me(text)  # each one answered in the chat as usual
    assert binding_notices(frt) == [
        ("司法局", "小王 已绑定为司法局成员，可在群里提交本部门的创建材料。")
    ]
    assert bindings.send_folded(frt) == {"folds": 0, "queued": 0}  # the window is still open
    time.sleep(1.1)
    assert bindings.send_folded(frt) == {"folds": 1, "queued": 2}
    assert binding_notices(frt)[1:] == [
        ("司法局", "小王 在上次通知后又变更了 4 次绑定，现已不在司法局。"),
        ("民政局", "小王 在上次通知后又变更了 4 次绑定，现为民政局成员。"),
    ]
    assert bindings.send_folded(frt) == {"folds": 0, "queued": 0}  # told once
    me("解绑")  # the window has ended: told at once again
    assert binding_notices(frt)[-1] == ("民政局", "小王 已解除与民政局的绑定。")
    assert frt.store.audit.entries(count=1)[0].action == "unbind"  # every change audited


def test_others_are_not_folded_with_a_flooder(frt):
    Chat(frt, "u1", "小王")("绑定 司法局")
    Chat(frt, "u1", "小王")("解绑")
    Chat(frt, "u2", "小李")("绑定 司法局")
    assert [t for _, t in binding_notices(frt)] == [
        "小王 已绑定为司法局成员，可在群里提交本部门的创建材料。",
        "小李 已绑定为司法局成员，可在群里提交本部门的创建材料。",
    ]

"""A fourth platform added from outside bot/platforms/: a toy adapter defined in this test module,
registered with bot.platforms.registry, answers at /hooks/toy and runs commands through the same
dispatch and dedupe as the real platforms. Nothing else in the code base knows of it: the
adapter contract (bot.platforms.base.Platform) and `register` are all it uses."""

from __future__ import annotations

import hmac
import json

import pytest

from bot.config import Settings
from bot.messages import HttpIn, HttpOut, Incoming, Reply
from bot.platforms.base import (
    AnswersInResponse,
    MalformedError,
    SignatureError,
    get_str,
    json_out,
    load_json_object,
    opt_str,
)
from bot.platforms.registry import platforms_for, register, unregister
from tests.http import conftest as web

KEY = "toy-shared-key"


class Toy(AnswersInResponse):
    """JSON {"id", "user", "chat", "text"} signed with a shared key in a header; the reply in
    the response body as {"text", "mentions"}."""

    name = "toy"
    platform = "toy"

    def __init__(self, key: str) -> None:
        self.key = key

    def handshake(self, req: HttpIn, now_ms: int) -> HttpOut | None:
        return None

    def verify(self, req: HttpIn, now_ms: int) -> None:
        got = req.headers.get("x-toy-key", "").encode()
        if not hmac.compare_digest(got, self.key.encode()):
            raise SignatureError("bad key")

    def parse(self, req: HttpIn) -> Incoming | None:
        data = load_json_object(req.body)
        chat = opt_str(data, "chat")
        user = get_str(data, "user")
        if not user:
            raise MalformedError("user is empty")
        return Incoming(platform=self.platform, user_id=user, text=get_str(data, "text"),
                        chat_id=chat, is_group=bool(chat), mentioned=True,
                        message_id=opt_str(data, "id"))  # fmt: skip

    def render_reply(self, req: HttpIn, msg: Incoming, reply: Reply, now_ms: int) -> HttpOut:
        if reply.silent:
            return json_out({})
        return json_out({"text": reply.text, "mentions": list(reply.mentions)})


def toy_adapter(settings: Settings) -> Toy | None:
    return Toy(KEY)


@pytest.fixture
def toy():
    register("toy", toy_adapter)
    yield
    unregister("toy")


@pytest.fixture
def client(toy, web_settings, redis_client, clock):
    runtime = web.runtime_for(web_settings, clock)
    rt = next(runtime)
    yield rt, web.testing_app(rt).test_client()
    runtime.close()


def say(client, text: str, msg_id: str, user: str = "toy-zhang", chat: str = "toy-group-1"):
    body = json.dumps({"id": msg_id, "user": user, "chat": chat, "text": text}, ensure_ascii=False)
    resp = client.post("/hooks/toy", data=body.encode(), headers={"X-Toy-Key": KEY},
                       content_type="application/json")  # fmt: skip
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return json.loads(resp.get_data())


def test_a_registered_platform_is_enabled_beside_the_built_in_ones(toy):
    assert "toy" in platforms_for(Settings())
    unregister("toy")
    assert "toy" not in platforms_for(Settings())


def test_a_command_runs_through_the_toy_platform(client):
    rt, http = client
    bound = say(http, "绑定 司法局", "t-1")
    assert "已绑定到" in bound["text"] and "司法局" in bound["text"]
    assert rt.store.bindings.get("toy", "toy-zhang").department == "司法局"
    tasks = say(http, "我的任务", "t-2")["text"]
    assert tasks.startswith("**司法局 · 共") and "第4项【牵头】" in tasks
    # the dedupe of every platform: the same message id again has one effect and one reply
    before = rt.store.audit.length()
    again = say(http, "解绑", "t-1")  # a redelivery carries the same id (and text): not run
    assert again["text"] == bound["text"] and rt.store.audit.length() == before
    assert rt.store.bindings.get("toy", "toy-zhang").department == "司法局"


def test_the_toy_platform_rejects_what_it_cannot_verify(client):
    rt, http = client
    before = rt.store.audit.length()
    resp = http.post("/hooks/toy", data=b'{"user":"x","text":"\\u7ed1\\u5b9a \\u53f8\\u6cd5\\u5c40"}',
                     headers={"X-Toy-Key": "wrong"}, content_type="application/json")  # fmt: skip
    assert resp.status_code == 401 and rt.store.audit.length() == before


def test_a_built_in_name_cannot_be_taken():
    with pytest.raises(ValueError):
        register("dingtalk", toy_adapter)

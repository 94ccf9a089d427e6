"""A fourth platform added from outside bot/platforms/: a toy adapter defined in this test module,
registered with bot.platforms.registry, answers at /hooks/toy and runs commands through the same
dispatch and dedupe as the real platforms; its sending side (a Sender: its org.yaml chat fields,
route, bodies and POST), registered the same way, gets the office's 催办 through the real drain
to a stub endpoint. Nothing else in the code base knows of it: the contracts
(bot.platforms.base.Platform and Sender) and `register` / `register_outbound` are all it uses."""

from __future__ import annotations

import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from bot.config import Settings
from bot.messages import HttpIn, HttpOut, Incoming, Reply
from bot.platforms.base import (
    JSON_HEADERS,
    Answer,
    AnswersInResponse,
    MalformedError,
    Outbound,
    Route,
    SendFailed,
    SignatureError,
    Transport,
    get_str,
    json_out,
    load_json_object,
    opt_str,
    robot_key,
)
from bot.platforms.registry import (
    platforms_for,
    register,
    register_outbound,
    unregister,
    unregister_outbound,
)
from tests.conftest import ROOT
from tests.e2e.background import use_env, work
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


# --- the sending side: a chat in org.yaml is {platform: toy, url, group} -----------------------


def toy_route(settings: Settings, target) -> Route | None:
    url = target.get("url")
    return Route("toy_post", "toy", robot_key(f"toy:{url}"), "玩具群", url=url) if url else None


def toy_bodies(route: Route, text: str, mentions) -> list[dict]:
    return [{"text": text, "at": list(mentions)}]


def toy_send(wire: Transport, route: Route, body: dict, key: str, credential: str) -> Answer:
    try:
        status, data, _ = wire.post(route.url, body, JSON_HEADERS)
    except SendFailed as e:
        return Answer("unknown" if e.may_have_arrived else "retry", detail=e.detail)
    if status == 200 and isinstance(data, dict) and data.get("ok") is True:
        return Answer("ok")
    return Answer("retry", detail=f"HTTP {status}")


TOY_OUT = Outbound("toy", cooldown_s=lambda s: 5, mentionable=("toy",), chat_fields=("url", "group"),
                   address=("url",), chat_key="group", route=toy_route, bodies=toy_bodies,
                   send=toy_send)  # fmt: skip


class Endpoint(BaseHTTPRequestHandler):
    """The toy platform's send API: takes a JSON body, answers {"ok": true}."""

    got: list[tuple[str, dict]] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Endpoint.got.append((self.path, body))
        out = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    Endpoint.got = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/toy/send"
    server.shutdown()
    server.server_close()


@pytest.fixture
def pushing(toy, endpoint, tmp_path, redis_url, monkeypatch, redis_client, clock):
    """The toy platform in and out, and an org.yaml whose 司法局 has a toy chat and whose office
    has a toy user; not a demo, so the drain pushes."""
    register_outbound(TOY_OUT)
    org = yaml.safe_load((ROOT / "org.yaml").read_text(encoding="utf-8"))
    dept = next(d for d in org["departments"] if d["name"] == "司法局")
    dept["chats"] = [*(dept.get("chats") or []),
                     {"platform": "toy", "url": endpoint, "group": "toy-group-1"}]  # fmt: skip
    org["admins"].append({"platform": "toy", "user_id": "toy-office"})
    path = tmp_path / "org.yaml"
    path.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    settings = use_env(monkeypatch, {
        "DUBAN_REDIS_URL": redis_url, "DUBAN_KEY_PREFIX": "toy", "DUBAN_ORG": str(path),
        "DUBAN_SECRET_KEY": "test-secret-key", "DUBAN_PUBLIC_URL": "http://duban.test",
    })  # fmt: skip
    runtime = web.runtime_for(settings, clock)
    rt = next(runtime)
    try:
        yield rt, web.testing_app(rt).test_client()
    finally:
        runtime.close()
        unregister_outbound("toy")


def test_the_toy_platform_gets_the_offices_reminder_through_the_drain(pushing):
    rt, http = pushing
    assert rt.org.department_of_chat("toy", "toy-group-1") == "司法局"  # its chat_key field
    assert "已绑定到" in say(http, "绑定 司法局", "p-1")["text"]
    said = say(http, "催办 司法局", "p-2", user="toy-office", chat="")["text"]
    assert "已安排向司法局推送催办提醒" in said, said
    assert Endpoint.got == []
    work(rt)  # the reminder job writes the outbox; the drain job posts it and the binding notice
    assert {path for path, _ in Endpoint.got} == {"/toy/send"}
    bound, reminder = (body["text"] for _, body in Endpoint.got)  # in the outbox's order
    assert bound.startswith("toy-zhang 已绑定为司法局成员")  # the binding notice to the group
    assert reminder.startswith("**⏰ 督办提醒 · 司法局") and "共 67 项" in reminder
    work(rt)  # nothing is posted twice
    assert len(Endpoint.got) == 2

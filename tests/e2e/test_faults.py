"""Faults with real processes (issue 11): hostile link targets and a flood of chatter against real
RQ workers (`python -m bot.worker` subprocesses), the stub platform server and Redis. Each test
prints the figures it measured (run with -s to see them)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from rq.job import Job

from bot.config import Settings
from bot.links import DEADLINE_S
from bot.queue import ANSWERS_QUEUE, LINKS_QUEUE
from bot.runtime import build_runtime
from tests.e2e.world import DEPT, OFFICE, content, wecom
from tests.stubs.platform_server import WECOM_WEBHOOK

_STOP = threading.Event()


class _Hostile(BaseHTTPRequestHandler):
    """Link targets that answer just fast enough never to trip a per-read timeout."""

    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        _Hostile.hits.append(self.path)
        try:
            if self.path == "/slow-header":  # one header byte every 4 s, for ever
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while not _STOP.wait(4.0):
                    self.wfile.write(b"x")
            elif self.path == "/many-headers":  # 100 short headers, one every half second
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for i in range(100):
                    if _STOP.wait(0.5):
                        return
                    self.wfile.write(f"X-{i}: {i}\r\n".encode())
                self.wfile.write(b"Content-Length: 0\r\n\r\n")
        except OSError:
            pass  # the checker hung up

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile():
    _STOP.clear()
    _Hostile.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _STOP.set()
    server.shutdown()
    server.server_close()


def web_side(w):
    """The runtime the web process would have (commands run here, jobs go to the workers)."""
    return build_runtime(
        Settings.from_env(w.env), client=redis.Redis.from_url(w.env["DUBAN_REDIS_URL"])
    )


def say(rt, user: str, text: str) -> str:
    from bot.messages import Incoming

    msg = Incoming("console", user, text, mentioned=True, message_id=f"f-{user}-{text}")
    return rt.dispatcher.handle(msg).text


def test_hostile_links_neither_stall_their_worker_nor_delay_a_review_notice(
    world_for, stub, hostile
):
    w = world_for(wecom())
    w.env["DUBAN_LINK_ALLOW"] = "127.0.0.1"  # the hostile site is local
    w.start_worker()  # review notices first, then the rest
    w.start_worker("--queue", LINKS_QUEUE)  # link checks
    w.wait_for_workers(2)
    rt = web_side(w)
    say(rt, "m1", f"绑定 {DEPT}")
    assert "已收到" in say(rt, "m1", f"提交 12 {hostile}/slow-header 方案")
    assert "已收到" in say(rt, "m1", f"提交 15 {hostile}/many-headers 公示")
    started = time.monotonic()
    job_id = rt.services["enqueue"]("bot.jobs.check_links", job_id="linkcheck", slot="now")
    w.wait_until(lambda: len(_Hostile.hits) >= 1, 20, "the first hostile fetch")

    asked = time.monotonic()
    assert "已退回" in say(rt, "admin", f"退回 12 {DEPT} 请补充2019年以来的台账")
    w.wait_until(
        lambda: any("被依法治区办退回" in content(r) for r in stub.requests_to(WECOM_WEBHOOK)),
        20,
        "the review notice",
    )
    review_s = time.monotonic() - asked
    assert review_s < 5.0  # promptly, while the link check still hangs on the hostile site

    job = Job.fetch(job_id, connection=w.client)
    w.wait_until(lambda: job.get_status(refresh=True) == "finished", 4 * DEADLINE_S, "the check")
    check_s = time.monotonic() - started
    print(f"\nreview notice delivered after {review_s:.2f} s; two hostile links checked in "
          f"{check_s:.1f} s (deadline {DEADLINE_S:g} s each)")  # fmt: skip
    assert check_s < 2 * DEADLINE_S + 10
    states = rt.store.link_states([f"{hostile}/slow-header", f"{hostile}/many-headers"])
    assert [s["error"] for s in states.values()] == ["timeout", "timeout"]
    assert rt.store.queued_links() == []  # not taken again the next minute
    assert rt.store.due_links(time.time() + 3000, 10) == []  # next look in an hour
    rt.redis.close()


def test_a_flood_of_bindings_is_folded_and_a_review_notice_still_arrives_at_once(world_for, stub):
    """80 绑定/解绑 from one person in a burst through signed DingTalk callbacks, then a 退回 from
    the office: with the production budget (20 a minute per robot) the review notice still goes
    out at once, and the group gets one binding notice now and one summary when the person's
    window closes, not 80."""
    from app import create_app
    from tests.http import callbacks as cb
    from tests.stubs.platform_server import DINGTALK_SESSION

    w = world_for(wecom())
    w.env |= {
        "DUBAN_DINGTALK_APP_SECRET": cb.DING_SECRET,
        "DUBAN_ROBOT_WINDOW_S": "60",  # as in production
        "DUBAN_BINDING_NOTICE_S": "8",
    }
    client = create_app(Settings.from_env(w.env)).test_client()
    w.start_worker()
    w.start_worker("--queue", ANSWERS_QUEUE)
    w.wait_for_workers(2)

    def post(text: str, msg_id: str, user: str) -> None:
        payload = cb.ding_payload(text, msg_id, user=user, oapi_base=stub.url)
        assert cb.ding_post(client, payload).status_code == 200

    burst = time.monotonic()
    for i in range(80):
        post(f"绑定 {DEPT}" if i % 2 == 0 else "解绑", f"flood-{i}", "flooder")
    burst_s = time.monotonic() - burst
    asked = time.monotonic()
    post(f"退回 12 {DEPT} 请补充2019年以来的台账", "office-return", OFFICE)

    def review_arrived() -> bool:
        return any("被依法治区办退回" in content(r) for r in stub.requests_to(WECOM_WEBHOOK))

    w.wait_until(review_arrived, 30, "the review notice")
    review_s = time.monotonic() - asked
    w.wait_until(
        lambda: all(stub.requests_to(DINGTALK_SESSION, key=f"sess-flood-{i}") for i in range(80)),
        60,
        "a reply to every callback",
    )
    print(f"\n80 callbacks posted in {burst_s:.2f} s; review notice delivered {review_s:.2f} s "
          f"after the 退回")  # fmt: skip
    assert review_s < 5.0

    def binding_notices() -> list[str]:
        return [t for t in map(content, stub.requests_to(WECOM_WEBHOOK)) if "绑定" in t]

    time.sleep(8.5)  # the person's window closes; the scheduler's minute job sends the summary
    w.enqueue("bot.jobs.send_folded_bindings", slot="t", now_iso="")
    w.wait_until(lambda: len(binding_notices()) >= 2, 20, "the summary")
    time.sleep(2.0)  # nothing more may come
    notices = binding_notices()
    print(f"binding notices in the group: {len(notices)} for 80 changes")
    assert len(notices) == 2
    assert "已绑定为司法局成员" in notices[0]
    assert "又变更了 79 次绑定" in notices[1] and "现已不在司法局" in notices[1]

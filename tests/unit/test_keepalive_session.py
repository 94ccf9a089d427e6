"""The workers' HTTP session reads the environment (proxies, NO_PROXY, CA bundle, ~/.netrc)
once per platform host and then settles every request exactly as requests itself would."""

from __future__ import annotations

import pytest
import requests

from bot.delivery import KeepAliveSession

DING = "https://oapi.dingtalk.com/robot/sendBySession?session=abc"
WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"


def test_proxies_and_ca_bundle_are_those_requests_would_use(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "oapi.dingtalk.com")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/office.pem")
    plain, ours = requests.Session(), KeepAliveSession()
    for url in (DING, WECOM):
        want = plain.merge_environment_settings(url, {}, None, None, None)
        assert ours.merge_environment_settings(url, {}, None, None, None) == want
    got = ours.merge_environment_settings(WECOM, {}, None, None, None)
    assert got["proxies"]["https"] == "http://proxy.example:3128"
    assert got["verify"] == "/etc/ssl/certs/office.pem"
    assert "https" not in ours.merge_environment_settings(DING, {}, None, None, None)["proxies"]


def test_the_environment_is_read_once_per_host(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    ours = KeepAliveSession()
    first = ours.merge_environment_settings(WECOM, {}, None, None, None)
    monkeypatch.delenv("HTTPS_PROXY")
    again = ours.merge_environment_settings(WECOM + "&n=2", {}, None, None, None)
    assert again == first  # not looked up again for the same host
    assert "https" not in ours.merge_environment_settings(DING, {}, None, None, None)["proxies"]


def test_netrc_credentials_are_still_sent(monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine qyapi.weixin.qq.com login office password s3cret\n")
    monkeypatch.setenv("NETRC", str(netrc))
    ours = KeepAliveSession()
    with_auth = ours.prepare_request(requests.Request("POST", WECOM, data=b"{}"))
    assert with_auth.headers["Authorization"].startswith("Basic ")
    without = ours.prepare_request(requests.Request("POST", DING, data=b"{}"))
    assert "Authorization" not in without.headers


def test_a_post_straight_through_urllib3_answers_and_fails_as_through_requests():
    """Without proxy, CA bundle or netrc for the host, a post skips requests' per-request work;
    a refused connection is still a ConnectionError that never reached the platform, and a
    read timeout a ReadTimeout that may have (bot.delivery.may_have_arrived)."""
    import json
    import socket
    import threading

    from bot.delivery import may_have_arrived
    from tests.stubs.platform_server import PlatformStub

    with PlatformStub() as stub:
        ours = KeepAliveSession()
        url = f"{stub.url}/robot/sendBySession?session=s-1"
        body = json.dumps({"msgtype": "text", "text": {"content": "好"}}).encode()
        for _ in range(3):
            status, data = ours.post_json(url, body, {"Content-Type": "application/json"}, (1, 2))
            assert status == 200 and data["errcode"] == 0
        assert [r.json["text"]["content"] for r in stub.requests] == ["好"] * 3
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(requests.ConnectionError) as refused:
        ours.post_json(f"http://127.0.0.1:{port}/x", b"{}", {}, (1, 1))
    assert not may_have_arrived(refused.value)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    held = []
    threading.Thread(target=lambda: held.append(silent.accept()), daemon=True).start()
    with pytest.raises(requests.ReadTimeout) as slow:
        ours.post_json(f"http://127.0.0.1:{silent.getsockname()[1]}/x", b"{}", {}, (1, 0.3))
    assert may_have_arrived(slow.value)
    silent.close()


def test_the_direct_path_is_taken_and_trusts_the_bundle_requests_would(monkeypatch):
    """With REQUESTS_CA_BUNDLE set (as on Debian), posts still skip requests; the pool for an
    https host verifies against that bundle. A proxy for the host sends the post through
    requests, which knows proxies."""
    import json

    from tests.stubs.platform_server import PlatformStub

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.utils.DEFAULT_CA_BUNDLE_PATH)
    with PlatformStub() as stub:
        ours = KeepAliveSession()
        url = f"{stub.url}/robot/sendBySession?session=s-2"
        body = json.dumps({"msgtype": "text", "text": {"content": "好"}}).encode()
        sent = []
        monkeypatch.setattr(ours, "send", lambda *a, **k: sent.append(a) or 1 / 0)
        assert ours.post_json(url, body, {}, (1, 2))[0] == 200 and not sent
        pool = ours._pool(requests.utils.DEFAULT_CA_BUNDLE_PATH)
        https = pool.connection_from_url("https://oapi.dingtalk.com/")
        assert https.ca_certs == requests.utils.DEFAULT_CA_BUNDLE_PATH
        assert https.cert_reqs == "CERT_REQUIRED"
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        via = KeepAliveSession()
        monkeypatch.setattr(via, "send", lambda *a, **k: sent.append(k.get("proxies")) or 1 / 0)
        with pytest.raises(ZeroDivisionError):
            via.post_json(url.replace("127.0.0.1", "localhost"), body, {}, (1, 2))
        assert sent and sent[0]["http"] == "http://127.0.0.1:9"


def test_threads_posting_to_one_host_at_once_each_keep_their_connection():
    """As many threads as the pool's size post to one platform host at once (a drain's push
    lanes, the answering consumer's lanes): each opens one connection and keeps it for its
    next posts, instead of one connection per post beyond urllib3's default of one per host."""
    import json
    import threading

    from tests.stubs.platform_server import PlatformStub

    with PlatformStub() as stub:
        ours = KeepAliveSession(maxsize=4)
        body = json.dumps({"msgtype": "text", "text": {"content": "好"}}).encode()
        start = threading.Barrier(4)
        answers: list[int] = []

        def lane(n: int) -> None:
            start.wait()
            for i in range(10):
                url = f"{stub.url}/robot/send?access_token=robot-{n}-{i}"
                answers.append(ours.post_json(url, body, {}, (1, 5))[0])

        threads = [threading.Thread(target=lane, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == [200] * 40 and len(stub.requests) == 40
        assert ours.connections_opened() <= 4

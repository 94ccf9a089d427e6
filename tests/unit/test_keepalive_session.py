"""The workers' HTTP session reads the environment (proxies, NO_PROXY, CA bundle, ~/.netrc)
once per platform host and then settles every request exactly as requests itself would."""

from __future__ import annotations

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

"""The WSGI adapter in front of Flask (bot/web/hooks.py): routes, methods, body limits and a
failing Redis, for every callback path; the admin pages still go through Flask."""

from __future__ import annotations

import io

import pytest

from tests.http.callbacks import LIMIT, ding_headers, ding_payload


def test_an_unknown_platform_is_404_and_touches_nothing(hook_client, hook_rt):
    before = sorted(hook_rt.redis.keys("hooks:*"))
    resp = hook_client.post("/hooks/slack", data=b"{}")
    assert resp.status_code == 404
    assert hook_client.post("/hooks/dingtalk/extra", data=b"{}").status_code == 404
    assert sorted(hook_rt.redis.keys("hooks:*")) == before


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(hook_client, method):
    resp = hook_client.open("/hooks/dingtalk", method=method, data=b"{}")
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET, POST"


def test_a_body_without_length_is_still_limited(hook_app, hook_rt):
    """A chunked body (no Content-Length) over the limit: 413, nothing read into the store."""
    audit = hook_rt.store.audit.length()
    body = b"{" + b" " * LIMIT + b"}"
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/hooks/dingtalk", "QUERY_STRING": "",
        "wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True,  # chunked, as servers mark it
        "CONTENT_TYPE": "application/json",
        **{f"HTTP_{k.upper()}": v for k, v in ding_headers().items()},
    }  # fmt: skip
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    out = b"".join(hook_app.wsgi_app(environ, start_response))
    assert seen["status"].startswith("413") and out
    assert seen["headers"]["Content-Length"] == str(len(out))
    assert hook_rt.store.audit.length() == audit


def test_a_signed_callback_without_length_within_the_limit_is_read(hook_app, hook_rt):
    import json

    body = json.dumps(ding_payload("帮助", "no-length"), ensure_ascii=False).encode()
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/hooks/dingtalk", "QUERY_STRING": "",
        "wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True,  # chunked, as servers mark it
        "CONTENT_TYPE": "application/json",
        **{f"HTTP_{k.upper()}": v for k, v in ding_headers().items()},
    }  # fmt: skip
    seen = {}
    out = b"".join(hook_app.wsgi_app(environ, lambda s, h: seen.update(status=s)))
    assert seen["status"] == "200 OK" and b"msgtype" in out


def test_admin_pages_still_go_through_flask(hook_client):
    assert hook_client.get("/healthz").json["redis"] is True
    page = hook_client.get("/admin/login")  # no admin password here: Flask's "not set up" page
    assert page.status_code == 503 and page.content_type.startswith("text/html")

"""`/` leads somewhere useful instead of an English "Not Found": the sandbox in demo mode,
the office's pages otherwise."""

from __future__ import annotations

from tests.http import conftest as web


def test_root_sends_a_demo_visitor_to_the_sandbox(web_client):
    resp = web_client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/sandbox")


def test_root_sends_to_the_admin_outside_demo_mode(web_settings, redis_client, clock):
    for rt in web.runtime_for(web_settings.with_(demo=False), clock):
        resp = web.testing_app(rt).test_client().get("/")
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/admin")

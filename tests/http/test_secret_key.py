"""The session key is never a constant: with no DUBAN_SECRET_KEY, a random one is generated
once and kept in the data directory (mode 0600), shared by every process of that directory."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from app import create_app
from tests.http.conftest import login, runtime_for, use_env

ROOT = Path(__file__).resolve().parents[2]
OLD_CONSTANT = "duban-demo-only"  # what app.py fell back to before


def forged_cookie(key: str) -> str:
    """An office session {"admin": True} signed with `key`, as Flask signs its cookies."""
    signer = Flask("forger")
    signer.secret_key = key
    return SecureCookieSessionInterface().get_signing_serializer(signer).dumps({"admin": True})


@pytest.fixture
def demo_settings(redis_url, monkeypatch, tmp_path):
    """`make run` as shipped: demo mode, a strong admin password, no secret key configured."""
    return use_env(
        monkeypatch,
        {
            "DUBAN_REDIS_URL": redis_url,
            "DUBAN_KEY_PREFIX": "secret",
            "DUBAN_DEMO": "1",
            "DUBAN_ADMIN_PASSWORD": "a-strong-office-password",
            "DUBAN_DATA_DIR": str(tmp_path / "data"),
        },
    )


@pytest.fixture
def demo_app(demo_settings, redis_client, clock):
    for rt in runtime_for(demo_settings, clock):
        app = create_app(runtime=rt)
        app.config["TESTING"] = True
        yield app


def test_a_cookie_signed_with_the_old_constant_opens_no_admin_page(demo_app):
    client = demo_app.test_client()
    client.set_cookie("duban_session", forged_cookie(OLD_CONSTANT))
    resp = client.get("/admin")
    assert resp.status_code == 302 and "/admin/login" in resp.headers["Location"]
    assert demo_app.secret_key != OLD_CONSTANT


def test_the_generated_key_is_kept_private_in_the_data_directory(demo_app, demo_settings):
    path = Path(demo_settings.data_dir) / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == demo_app.secret_key
    assert len(demo_app.secret_key) >= 32


def test_every_process_of_a_data_directory_shares_the_key(demo_settings, demo_app, clock):
    """Two web workers (or a restart) accept each other's sessions; processes that start at the
    same moment agree on one key."""
    client = demo_app.test_client()
    assert login(client, "a-strong-office-password").status_code == 302
    cookie = client.get_cookie("duban_session").value
    for rt in runtime_for(demo_settings, clock):
        other = create_app(runtime=rt).test_client()
        other.set_cookie("duban_session", cookie)
        assert other.get("/admin").status_code == 200
    fresh = str(Path(demo_settings.data_dir).parent / "fresh")
    code = "import sys; from bot.datadir import secret_key; print(secret_key(sys.argv[1]))"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, fresh], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    keys = {p.communicate(timeout=30)[0].strip() for p in procs}
    assert len(keys) == 1 and len(keys.pop()) >= 32
    assert sorted(os.listdir(fresh)) == ["secret_key"]  # no temporary file left behind


def test_a_configured_key_is_used_as_is(demo_settings, redis_client, clock):
    for rt in runtime_for(demo_settings.with_(secret_key="k" * 40), clock):
        assert create_app(runtime=rt).secret_key == "k" * 40
    assert not (Path(demo_settings.data_dir) / "secret_key").exists()

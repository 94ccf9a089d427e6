"""Sign-in through the platform for the fill-in page (issue 15 item 1, bot/signin.py): the stub
platform server plays each platform's OAuth server over real HTTP. The browser's side is
followed hop by hop: /m/signin/<platform> → the platform's authorize page (the stub, which
redirects back with a code) → /m/signin/<platform>/done → the department's fill-in page.
Refused, tampered, replayed or foreign callbacks end on a Chinese page with nothing issued."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from bot.messages import Incoming
from tests.e2e.background import use_env
from tests.http import callbacks as cb
from tests.http import conftest as web
from tests.stubs import platform_server as ps

PUBLIC = "http://duban.test"
DEPT = "司法局"


def signin_env(redis_url: str, stub_url: str, platforms: str) -> dict[str, str]:
    """Production settings with every platform's app pointed at the stub, sign-in on for
    `platforms`."""
    return {
        "DUBAN_REDIS_URL": redis_url,
        "DUBAN_KEY_PREFIX": "signin",
        "DUBAN_SECRET_KEY": "signin-test-key",
        "DUBAN_PUBLIC_URL": PUBLIC,
        "DUBAN_SIGNIN_PLATFORMS": platforms,
        "DUBAN_DINGTALK_APP_KEY": "ding-app-key",
        "DUBAN_DINGTALK_APP_SECRET": cb.DING_SECRET,
        "DUBAN_DINGTALK_ROBOT_CODE": "ding-robot",
        "DUBAN_DINGTALK_API_BASE": stub_url,
        "DUBAN_DINGTALK_OAPI_BASE": stub_url,
        "DUBAN_DINGTALK_LOGIN_BASE": stub_url,
        "DUBAN_WECOM_APP_TOKEN": cb.APP_TOKEN,
        "DUBAN_WECOM_APP_AES_KEY": cb.APP_AES_KEY,
        "DUBAN_WECOM_CORP_ID": cb.CORP_ID,
        "DUBAN_WECOM_APP_SECRET": "wecom-app-secret",
        "DUBAN_WECOM_AGENT_ID": "1000002",
        "DUBAN_WECOM_API_BASE": stub_url,
        "DUBAN_WECOM_AUTHORIZE_BASE": stub_url,
        "DUBAN_FEISHU_APP_ID": cb.FEISHU_APP_ID,
        "DUBAN_FEISHU_APP_SECRET": cb.FEISHU_APP_SECRET,
        "DUBAN_FEISHU_VERIFICATION_TOKEN": cb.FEISHU_TOKEN,
        "DUBAN_FEISHU_ENCRYPT_KEY": cb.FEISHU_ENCRYPT_KEY,
        "DUBAN_FEISHU_API_BASE": stub_url,
        "DUBAN_FEISHU_AUTHORIZE_BASE": stub_url,
    }


@pytest.fixture
def platforms():
    return "dingtalk,wecom,feishu"


@pytest.fixture
def srt(redis_url, redis_client, stub, monkeypatch, clock, platforms):
    settings = use_env(monkeypatch, signin_env(redis_url, stub.url, platforms))
    yield from web.runtime_for(settings, clock)


@pytest.fixture
def client(srt):
    return web.testing_app(srt).test_client()


def bind(rt, platform: str, user: str, dept: str = DEPT) -> None:
    reply = rt.dispatcher.handle(Incoming(platform, user, f"绑定 {dept}", mentioned=True)).text
    assert dept in reply, reply


def start(client, platform: str) -> str:
    """/m/signin/<platform>: the platform's authorize URL it redirects to."""
    resp = client.get(f"/m/signin/{platform}")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return resp.headers["Location"]


def authorize(url: str) -> str:
    """The platform's page (the stub, over HTTP): the callback URL it sends the browser to."""
    resp = requests.get(url, allow_redirects=False, timeout=5)
    assert resp.status_code == 302, resp.text
    back = resp.headers["Location"]
    assert back.startswith(f"{PUBLIC}/m/signin/"), back
    return back.removeprefix(PUBLIC)


def sign_in(client, platform: str):
    return client.get(authorize(start(client, platform)))


def audit(rt) -> list[tuple[str, str, str]]:
    return [(e.action, e.actor, e.department) for e in rt.store.audit.entries(100)]


def issued(rt) -> list[tuple[str, str, str]]:
    return [a for a in audit(rt) if a[0] == "fill_link"]


def page_of(client, resp) -> str:
    assert resp.status_code == 303, resp.get_data(as_text=True)
    url = resp.headers["Location"]
    assert url.startswith(f"{PUBLIC}/m/") and "/signin" not in url
    page = client.get(url.removeprefix(PUBLIC))
    assert page.status_code == 200
    return page.get_data(as_text=True)


# --- each platform: signed in, bound, on the department's page ---------------------------------

CASES = {
    # platform: (id the robot callbacks carry, the platform id the binding is under)
    "dingtalk": ("ding-staff-1", "dingtalk"),
    "wecom": ("wecom-member-1", "wecom_app"),
    "wecom-smart-bot": ("wecom-member-2", "wecom"),
    "feishu": ("ou_feishu_1", "feishu"),
}


@pytest.mark.parametrize("case", CASES)
def test_signing_in_ends_on_the_departments_fill_in_page(client, srt, stub, case):
    platform = case.split("-")[0]
    user, bound_as = CASES[case]
    bind(srt, bound_as, user)
    stub.oauth_sign_in(platform, user, "张三")
    before = len(issued(srt))
    html = page_of(client, sign_in(client, platform))
    assert f"{DEPT} · 共" in html
    # the same link 填报 gives, audited the same way, under the person's chat identity
    assert issued(srt)[0] == ("fill_link", f"{bound_as}:{user}", DEPT)
    assert len(issued(srt)) == before + 1
    assert ("fill_signin", f"{bound_as}:{user}", DEPT) in audit(srt)
    assert ("fill_open", f"{bound_as}:{user}", DEPT) in audit(srt)


def test_the_authorize_urls_carry_what_each_platform_documents(client, stub):
    got = {}
    for platform in ("wecom", "dingtalk", "feishu"):
        url = start(client, platform)
        parts = urlsplit(url)
        got[platform] = (parts.path, dict(parse_qsl(parts.query)), parts.fragment)
    redirect = f"{PUBLIC}/m/signin/%s/done"
    path, q, fragment = got["wecom"]
    assert path == ps.WECOM_AUTHORIZE and fragment == "wechat_redirect"
    assert q["appid"] == cb.CORP_ID and q["scope"] == "snsapi_base" and q["agentid"] == "1000002"
    assert q["response_type"] == "code" and q["redirect_uri"] == redirect % "wecom"
    assert q["state"].isalnum() and len(q["state"].encode()) <= 128  # WeCom: a-zA-Z0-9, ≤128
    path, q, _ = got["dingtalk"]
    assert path == ps.DINGTALK_AUTHORIZE and q["client_id"] == "ding-app-key"
    assert (q["scope"], q["prompt"], q["response_type"]) == ("openid", "consent", "code")
    path, q, _ = got["feishu"]
    assert path == ps.FEISHU_AUTHORIZE and q["client_id"] == cb.FEISHU_APP_ID
    assert q["redirect_uri"] == redirect % "feishu" and q["response_type"] == "code"


def test_the_sign_in_page_has_a_button_per_configured_platform(client):
    html = client.get("/m/signin").get_data(as_text=True)
    for p, label in (("dingtalk", "钉钉"), ("wecom", "企业微信"), ("feishu", "飞书")):
        assert f'href="/m/signin/{p}"' in html and f"用{label}登录" in html


# --- refused: a Chinese page, nothing issued ----------------------------------------------------


def test_an_unbound_person_is_told_how_to_bind(client, srt, stub):
    stub.oauth_sign_in("dingtalk", "ding-nobody")
    resp = sign_in(client, "dingtalk")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 403
    assert "在部门工作群发送「绑定 部门名称」" in html
    assert issued(srt) == []
    assert ("signin_refused", "dingtalk:ding-nobody", "") in audit(srt)


def test_a_tampered_state_is_refused_before_the_platform_is_asked(client, srt, stub):
    bind(srt, "feishu", "ou_1")
    stub.oauth_sign_in("feishu", "ou_1")
    back = authorize(start(client, "feishu"))
    path, _, query = back.partition("?")
    q = dict(parse_qsl(query))
    state = q["state"]
    q["state"] = state[:40] + ("0" if state[40] != "0" else "1") + state[41:]
    stub.reset()
    resp = client.get(f"{path}?{urlencode(q)}")
    assert resp.status_code == 400 and "登录请求无效" in resp.get_data(as_text=True)
    assert stub.requests_to(ps.FEISHU_OAUTH_TOKEN) == []  # the code was never used
    assert issued(srt) == []


def test_a_replayed_callback_or_code_issues_nothing(client, srt, stub):
    bind(srt, "dingtalk", "ding-staff-9")
    stub.oauth_sign_in("dingtalk", "ding-staff-9")
    back = authorize(start(client, "dingtalk"))
    first = client.get(back)
    page = first.headers["Location"].removeprefix(PUBLIC)
    assert len(issued(srt)) == 1
    # the same callback again (a reload, a copied address): its state is spent
    again = client.get(back)
    assert again.status_code == 410 and "已经用过" in again.get_data(as_text=True)
    # the old code under a fresh state: the platform refuses a code used once
    fresh = dict(parse_qsl(urlsplit(start(client, "dingtalk")).query))["state"]
    path, _, query = back.partition("?")
    q = dict(parse_qsl(query), state=fresh)
    replayed = client.get(f"{path}?{urlencode(q)}")
    assert replayed.status_code == 400 and "授权码无效" in replayed.get_data(as_text=True)
    assert len(issued(srt)) == 1
    assert client.get(page).status_code == 200  # the link issued first is not revoked


def test_a_callback_in_another_browser_is_refused(client, srt, stub):
    bind(srt, "wecom_app", "wc-1")
    stub.oauth_sign_in("wecom", "wc-1")
    back = authorize(start(client, "wecom"))
    other = web.testing_app(srt).test_client()
    resp = other.get(back)
    assert resp.status_code == 400 and "同一浏览器" in resp.get_data(as_text=True)
    assert issued(srt) == []


def test_an_expired_state_is_refused(client, srt, stub, clock):
    bind(srt, "wecom_app", "wc-2")
    stub.oauth_sign_in("wecom", "wc-2")
    back = authorize(start(client, "wecom"))
    clock.set(2020, 8, 14, 2, 11)  # 11 minutes after the sign-in began
    resp = client.get(back)
    assert resp.status_code == 410 and "超过 10 分钟" in resp.get_data(as_text=True)
    assert issued(srt) == []


def test_refusing_on_the_platforms_page_issues_nothing(client, srt, stub):
    bind(srt, "feishu", "ou_2")
    stub.oauth_deny("feishu")
    resp = sign_in(client, "feishu")
    assert resp.status_code == 403 and "取消了授权" in resp.get_data(as_text=True)
    assert issued(srt) == []


def test_a_dingtalk_account_outside_the_organisation_is_refused(client, srt, stub):
    stub.oauth_sign_in("dingtalk", "outsider", member=False)
    resp = sign_in(client, "dingtalk")
    assert resp.status_code == 403 and "不是本单位成员" in resp.get_data(as_text=True)
    assert issued(srt) == []


@pytest.mark.parametrize("platforms", ["dingtalk,wecom"])
def test_an_unconfigured_platform_is_a_chinese_404(client, srt):
    for path in ("/m/signin/feishu", "/m/signin/feishu/done?code=x&state=y", "/m/signin/qq"):
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert "没有开启通过该平台登录" in resp.get_data(as_text=True)
    assert "feishu" not in client.get("/m/signin").get_data(as_text=True)


def test_sign_in_is_off_by_default(web_client):
    for path in ("/m/signin", "/m/signin/dingtalk"):
        resp = web_client.get(path)
        assert resp.status_code == 404 and "未开启平台登录" in resp.get_data(as_text=True)


def test_a_platform_that_does_not_answer_issues_nothing(client, srt, stub):
    bind(srt, "feishu", "ou_3")
    stub.oauth_sign_in("feishu", "ou_3")
    back = authorize(start(client, "feishu"))
    stub.stop()  # the platform goes away between its page and the code exchange
    resp = client.get(back)
    assert resp.status_code == 502 and "暂时连不上平台" in resp.get_data(as_text=True)
    assert issued(srt) == []
    assert ("signin_refused", "", "") in audit(srt)

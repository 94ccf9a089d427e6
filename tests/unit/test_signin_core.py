"""bot/signin.py without a server: the signed state, each platform's authorize URL on the public
hosts, the setting that turns sign-in on, and the core staying framework-free."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from bot import signin
from bot.config import ConfigError, Settings
from bot.records import Binding
from tests.unit.test_architecture import FORBIDDEN, ROOT, imports_of

KEY = "k" * 32
NOW = 1_597_370_400.0


def test_the_state_round_trips_and_is_letters_and_digits_within_128_bytes():
    nonce = signin.new_nonce()
    state = signin.make_state(KEY, "wecom", nonce, NOW)
    assert state.isascii() and state.isalnum() and len(state) <= 128
    assert signin.read_state(KEY, "wecom", state, NOW + signin.STATE_TTL_S - 1) == nonce


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s[:-1] + ("0" if s[-1] != "0" else "1"),  # signature
        lambda s: ("f" if s[0] != "f" else "e") + s[1:],  # nonce
        lambda s: s[:32] + "zz" + s[34:],  # expiry
        lambda s: s + "-",  # not alphanumeric
        lambda s: s[:50],  # cut short
        lambda s: "",
    ],
)
def test_a_changed_state_is_tampered(change):
    state = signin.make_state(KEY, "dingtalk", signin.new_nonce(), NOW)
    with pytest.raises(signin.Refused) as e:
        signin.read_state(KEY, "dingtalk", change(state), NOW)
    assert e.value.kind == "tampered"


def test_a_state_is_good_for_its_platform_key_and_time_only():
    state = signin.make_state(KEY, "dingtalk", signin.new_nonce(), NOW)
    for key, platform, now, kind in (
        (KEY, "feishu", NOW, "tampered"),
        ("another-key", "dingtalk", NOW, "tampered"),
        (KEY, "dingtalk", NOW + signin.STATE_TTL_S, "expired"),
    ):
        with pytest.raises(signin.Refused) as e:
            signin.read_state(key, platform, state, now)
        assert e.value.kind == kind


def test_the_authorize_urls_point_at_the_vendors_hosts():
    s = Settings(
        signin_platforms=("dingtalk", "wecom", "feishu"),
        dingtalk_app_key="dingkey", dingtalk_app_secret="x",
        wecom_corp_id="ww1", wecom_app_secret="x", wecom_agent_id="1000002",
        feishu_app_id="cli_1", feishu_app_secret="x",
    )  # fmt: skip
    found = signin.providers(s)
    assert list(found) == ["dingtalk", "wecom", "feishu"]
    back = "https://duban.example.gov.cn/m/signin/x/done"
    urls = {p: urlsplit(found[p].authorize_url(back, "S1")) for p in found}
    wecom, ding, feishu = urls["wecom"], urls["dingtalk"], urls["feishu"]
    assert (wecom.netloc, wecom.path, wecom.fragment) == (
        "open.weixin.qq.com", "/connect/oauth2/authorize", "wechat_redirect",
    )  # fmt: skip
    assert list(dict(parse_qsl(wecom.query))) == [
        "appid", "redirect_uri", "response_type", "scope", "state", "agentid",
    ]  # fmt: skip
    assert (ding.netloc, ding.path) == ("login.dingtalk.com", "/oauth2/auth")
    assert dict(parse_qsl(ding.query))["redirect_uri"] == back
    assert (feishu.netloc, feishu.path) == ("accounts.feishu.cn", "/open-apis/authen/v1/authorize")
    assert dict(parse_qsl(feishu.query)) == {
        "client_id": "cli_1", "response_type": "code", "redirect_uri": back, "state": "S1",
    }  # fmt: skip


def test_dingtalk_reads_authcode_and_others_code():
    assert signin.DingTalk.code_of({"authCode": "a", "code": "b"}) == "a"
    assert signin.DingTalk.code_of({"code": "b"}) == "b"
    assert signin.WeCom.code_of({"authCode": "a"}) == ""


def test_the_most_recent_binding_among_the_candidates_wins():
    class Bindings:
        def __init__(self, *found):
            self.found = {(b.platform, b.user_id): b for b in found}

        def get(self, platform, user):
            return self.found.get((platform, user))

    app = Binding("wecom_app", "u", "司法局", bound_at="2020-08-14T01:00:00Z")
    bot = Binding("wecom", "u", "公安局", bound_at="2020-08-14T02:00:00Z")
    person = signin.Person((("wecom_app", "u"), ("wecom", "u")))
    assert signin.binding_of(Bindings(app, bot), person) is bot
    assert signin.binding_of(Bindings(app), person) is app
    assert signin.binding_of(Bindings(), person) is None


def test_the_setting_is_off_by_default_and_checked():
    assert Settings().signin_platforms == ()
    s = Settings.from_env({"DUBAN_SIGNIN_PLATFORMS": " DingTalk , feishu"} | _creds())
    assert s.signin_platforms == ("dingtalk", "feishu")
    with pytest.raises(ConfigError) as e:
        Settings.from_env({"DUBAN_SIGNIN_PLATFORMS": "qq,wecom"})
    said = str(e.value)
    assert "'qq' is not one of" in said
    assert "DUBAN_SIGNIN_PLATFORMS=wecom needs DUBAN_WECOM_CORP_ID, DUBAN_WECOM_APP_SECRET" in said


def _creds() -> dict[str, str]:
    return {
        "DUBAN_DINGTALK_APP_KEY": "k",
        "DUBAN_DINGTALK_APP_SECRET": "s",
        "DUBAN_DINGTALK_ROBOT_CODE": "r",
        "DUBAN_FEISHU_APP_ID": "cli",
        "DUBAN_FEISHU_APP_SECRET": "s",
        "DUBAN_FEISHU_VERIFICATION_TOKEN": "t",
    }


def test_the_core_is_framework_free():
    bad = imports_of(ROOT / "bot" / "signin.py") & FORBIDDEN
    assert not bad, bad

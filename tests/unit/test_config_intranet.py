"""The intranet-mode settings (bot/stream/): a mode names its platform, and a mode without its
credentials, credentials without their mode, or an unknown mode stop start-up."""

import pytest

from bot.config import ConfigError, Settings

DINGTALK = {
    "DUBAN_DINGTALK_APP_KEY": "k",
    "DUBAN_DINGTALK_APP_SECRET": "s",
    "DUBAN_DINGTALK_ROBOT_CODE": "r",
}


def test_intranet_modes_name_their_platforms():
    s = Settings.from_env(
        {
            **DINGTALK,
            "DUBAN_DINGTALK_MODE": "stream",
            "DUBAN_WECOM_MODE": "longconn",
            "DUBAN_WECOM_BOT_ID": "bot",
            "DUBAN_WECOM_BOT_SECRET": "secret",
        }
    )
    assert s.intranet_platforms == ("dingtalk", "wecom")
    assert Settings().intranet_platforms == ()


def test_an_intranet_mode_without_its_credentials_is_refused():
    with pytest.raises(ConfigError) as e:
        Settings.from_env(
            {
                "DUBAN_DINGTALK_MODE": "stream",
                "DUBAN_WECOM_MODE": "longconn",
                "DUBAN_WECOM_BOT_ID": "bot",
                "DUBAN_FEISHU_MODE": "ws",
            }
        )
    text = str(e.value)
    for needle in (
        "DUBAN_DINGTALK_MODE=stream needs DUBAN_DINGTALK_APP_KEY, DUBAN_DINGTALK_APP_SECRET,"
        " DUBAN_DINGTALK_ROBOT_CODE",
        "DUBAN_WECOM_MODE=longconn needs DUBAN_WECOM_BOT_SECRET",
        "DUBAN_FEISHU_MODE=ws needs DUBAN_FEISHU_APP_ID",
    ):
        assert needle in text


def test_long_connection_credentials_without_the_mode_and_unknown_modes_are_refused():
    with pytest.raises(ConfigError) as e:
        Settings.from_env(
            {
                "DUBAN_WECOM_BOT_ID": "bot",
                "DUBAN_WECOM_BOT_SECRET": "secret",
                "DUBAN_DINGTALK_MODE": "websocket",
                "DUBAN_WECOM_LONGCONN_URL": "https://openws.work.weixin.qq.com",
            }
        )
    text = str(e.value)
    assert "set DUBAN_WECOM_MODE=longconn, or leave them empty" in text
    assert "DUBAN_DINGTALK_MODE: 'http' or 'stream', not 'websocket'" in text
    assert "DUBAN_WECOM_LONGCONN_URL: must start with ws:// or wss://" in text


def test_feishu_over_the_websocket_needs_no_verification_token():
    """The event WebSocket is authenticated by the app id and secret; the verification token
    only checks HTTP events. Without it in ws mode the app replies and pushes, and no HTTP
    hook is served; over HTTP the token is still required."""
    app = {"DUBAN_FEISHU_APP_ID": "cli_a1", "DUBAN_FEISHU_APP_SECRET": "s"}
    ws = Settings.from_env({**app, "DUBAN_FEISHU_MODE": "ws"})
    assert ws.feishu_enabled and not ws.feishu_hook_enabled
    assert ws.intranet_platforms == ("feishu",)
    both = Settings.from_env(
        {**app, "DUBAN_FEISHU_MODE": "ws", "DUBAN_FEISHU_VERIFICATION_TOKEN": "v"}
    )
    assert both.feishu_enabled and both.feishu_hook_enabled
    with pytest.raises(ConfigError) as e:
        Settings.from_env(app)
    assert "DUBAN_FEISHU_VERIFICATION_TOKEN" in str(e.value)

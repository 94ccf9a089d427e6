"""Settings: read once from DUBAN_* variables, every problem listed at once."""

import pytest

from bot.config import ConfigError, Settings


def test_defaults_and_coercion():
    s = Settings.from_env({"DUBAN_DEMO": "1", "DUBAN_REMIND_AT": "9:5", "DUBAN_LINK_ALLOW": "a, b"})
    assert s.demo is True and s.remind_at == "09:05" and s.link_allow == ("a", "b")
    assert not s.dingtalk_enabled and not s.wecom_enabled and not s.wecom_app_enabled


def test_every_problem_is_listed_at_once():
    with pytest.raises(ConfigError) as e:
        Settings.from_env(
            {
                "DUBAN_DEMO": "maybe",
                "DUBAN_RANK_AT": "25:00",
                "DUBAN_DINGTALK_APP_SECRET": "s",
                "DUBAN_WECOM_TOKEN": "t",
                "DUBAN_WECOM_AES_KEY": "short",
                "DUBAN_EXTRA_HOLIDAYS": "2030-13-01",
            }
        )
    text = str(e.value)
    for needle in (
        "DUBAN_DEMO",
        "DUBAN_RANK_AT",
        "DingTalk is half-configured; missing: DUBAN_DINGTALK_APP_KEY, DUBAN_DINGTALK_ROBOT_CODE",
        "DUBAN_WECOM_AES_KEY: an EncodingAESKey has 43 characters",
        "DUBAN_EXTRA_HOLIDAYS: not a date",
    ):
        assert needle in text


def test_a_complete_platform_is_enabled():
    s = Settings.from_env(
        {
            "DUBAN_DINGTALK_APP_KEY": "k",
            "DUBAN_DINGTALK_APP_SECRET": "s",
            "DUBAN_DINGTALK_ROBOT_CODE": "r",
        }
    )
    assert s.dingtalk_enabled

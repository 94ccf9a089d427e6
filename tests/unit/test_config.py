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


def test_values_that_would_only_fail_later_are_refused_at_start():
    with pytest.raises(ConfigError) as e:
        Settings.from_env(
            {
                "DUBAN_TZ": "Asia/Shangai",
                "DUBAN_SMTP_URL": "mail.example.gov.cn:25",
                "DUBAN_PUBLIC_URL": "duban.example.gov.cn",
                "DUBAN_REDIS_URL": "127.0.0.1:6379",
                "DUBAN_ROBOT_PER_MINUTE": "0",
                "DUBAN_MAX_BODY_BYTES": "-1",
                "DUBAN_COOLDOWN_DINGTALK_S": "-5",
            }
        )
    text = str(e.value)
    for needle in (
        "DUBAN_TZ: not a time zone name",
        "DUBAN_SMTP_URL: must look like smtp://",
        "DUBAN_PUBLIC_URL: must start with http:// or https://",
        "DUBAN_REDIS_URL: must start with redis:// or rediss:// or unix://",
        "DUBAN_ROBOT_PER_MINUTE: must be at least 1",
        "DUBAN_MAX_BODY_BYTES: must be at least 1",
        "DUBAN_COOLDOWN_DINGTALK_S: must not be negative",
    ):
        assert needle in text
    assert "6379" not in text  # a URL is never echoed (it may hold a password)


def test_good_urls_and_zones_pass():
    s = Settings.from_env(
        {
            "DUBAN_TZ": "Asia/Urumqi",
            "DUBAN_SMTP_URL": "smtps://duban%40x.gov.cn:pw@mail.x.gov.cn?from=duban@x.gov.cn",
            "DUBAN_PUBLIC_URL": "https://duban.x.gov.cn",
            "DUBAN_REDIS_URL": "unix:///var/run/redis.sock?db=0",
        }
    )
    assert s.tz == "Asia/Urumqi"


def test_a_complete_platform_is_enabled():
    s = Settings.from_env(
        {
            "DUBAN_DINGTALK_APP_KEY": "k",
            "DUBAN_DINGTALK_APP_SECRET": "s",
            "DUBAN_DINGTALK_ROBOT_CODE": "r",
        }
    )
    assert s.dingtalk_enabled

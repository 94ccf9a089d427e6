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
                "DUBAN_TRUSTED_PROXIES": "10.0.0.1, proxy.example",
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
        "DUBAN_TRUSTED_PROXIES: not an IP address or CIDR: 'proxy.example'",
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
            "DUBAN_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8;::1",
        }
    )
    assert s.tz == "Asia/Urumqi"
    assert s.trusted_proxies == ("127.0.0.1", "10.0.0.0/8", "::1")


def test_a_complete_platform_is_enabled():
    s = Settings.from_env(
        {
            "DUBAN_DINGTALK_APP_KEY": "k",
            "DUBAN_DINGTALK_APP_SECRET": "s",
            "DUBAN_DINGTALK_ROBOT_CODE": "r",
        }
    )
    assert s.dingtalk_enabled


@pytest.mark.parametrize(
    "env,bad",
    [
        ({"DUBAN_RANK_AT": "22:00"}, "DUBAN_RANK_AT=22:00 falls in the quiet hours 21:00-08:00"),
        ({"DUBAN_REMIND_AT": "21:00"}, "DUBAN_REMIND_AT=21:00 falls in the quiet hours"),
        ({"DUBAN_QUIET_START": "17:00"}, "DUBAN_RANK_AT=17:30"),
        ({"DUBAN_QUIET_START": "23:00", "DUBAN_RANK_AT": "23:59"}, "DUBAN_RANK_AT=23:59"),
    ],
)
def test_a_push_time_that_could_never_be_sent_is_refused_at_start(env, bad):
    with pytest.raises(ConfigError) as e:
        Settings.from_env(env)
    assert bad in str(e.value) and "would never be sent" in str(e.value)


@pytest.mark.parametrize(
    "env",
    [
        {"DUBAN_RANK_AT": "20:59", "DUBAN_REMIND_AT": "08:00"},
        # held back until quiet hours end the same morning, then sent (see tests/e2e)
        {"DUBAN_REMIND_AT": "07:30"},
        {"DUBAN_QUIET_START": "12:00", "DUBAN_QUIET_END": "18:00"},
        {"DUBAN_QUIET_START": "08:00", "DUBAN_QUIET_END": "08:00", "DUBAN_RANK_AT": "23:00"},
    ],
)
def test_push_times_that_will_be_sent_pass(env):
    Settings.from_env(env)


@pytest.mark.parametrize("prefix", ["", "duban-answers", "a:b", "沙箱", "x" * 33])
def test_a_key_prefix_that_could_share_a_queue_or_job_id_is_refused(prefix):
    """The prefix names the RQ queues and job ids too: `duban-answers` would be the default
    deployment's answers queue."""
    with pytest.raises(ConfigError, match="DUBAN_KEY_PREFIX"):
        Settings.from_env({"DUBAN_KEY_PREFIX": prefix})
    assert Settings.from_env({"DUBAN_KEY_PREFIX": "sbx_2"}).key_prefix == "sbx_2"


def test_links_follow_port_unless_a_public_url_is_set():
    assert Settings.from_env({}).public_url == "http://127.0.0.1:8000"
    assert Settings.from_env({"PORT": "8301"}).public_url == "http://127.0.0.1:8301"
    public = {"PORT": "8301", "DUBAN_PUBLIC_URL": "https://duban.example.gov.cn"}
    assert Settings.from_env(public).public_url == "https://duban.example.gov.cn"


def test_feishu_is_enabled_by_app_id_secret_and_verification_token():
    base = {
        "DUBAN_FEISHU_APP_ID": "cli_a1",
        "DUBAN_FEISHU_APP_SECRET": "s",
        "DUBAN_FEISHU_VERIFICATION_TOKEN": "v",
    }
    assert Settings.from_env(base).feishu_enabled
    assert Settings.from_env({**base, "DUBAN_FEISHU_ENCRYPT_KEY": "k"}).feishu_enabled
    assert not Settings().feishu_enabled
    assert Settings().feishu_api_base == "https://open.feishu.cn"


@pytest.mark.parametrize(
    "env, missing",
    [
        (
            {"DUBAN_FEISHU_APP_ID": "cli_a1"},
            "DUBAN_FEISHU_APP_SECRET, DUBAN_FEISHU_VERIFICATION_TOKEN",
        ),
        (
            {"DUBAN_FEISHU_APP_ID": "cli_a1", "DUBAN_FEISHU_APP_SECRET": "s"},
            "DUBAN_FEISHU_VERIFICATION_TOKEN",
        ),
        # an encrypt key alone is half a Feishu configuration too
        (
            {"DUBAN_FEISHU_ENCRYPT_KEY": "k"},
            "DUBAN_FEISHU_APP_ID, DUBAN_FEISHU_APP_SECRET, DUBAN_FEISHU_VERIFICATION_TOKEN",
        ),
    ],
)
def test_half_a_feishu_configuration_names_what_is_missing(env, missing):
    with pytest.raises(ConfigError) as e:
        Settings.from_env(env)
    assert f"Feishu is half-configured; missing: {missing}" in str(e.value)


def test_feishu_api_base_must_be_a_web_url():
    with pytest.raises(ConfigError) as e:
        Settings.from_env({"DUBAN_FEISHU_API_BASE": "open.feishu.cn"})
    assert "DUBAN_FEISHU_API_BASE: must start with http:// or https://" in str(e.value)

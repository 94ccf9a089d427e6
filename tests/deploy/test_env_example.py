"""deploy/env.example lists every DUBAN_* setting that bot/config.py reads and no other, each
explained in Chinese and English (platform credentials with where in the console they come
from), in plain lines that systemd, docker compose and sh read alike, with valid values."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from tests.deploy.helpers import DEPLOY, ROOT, env_example

FILE = DEPLOY / "env.example"
# Values shown for a production host rather than the default (the file's header says which).
PRODUCTION_EXAMPLES = {
    "DUBAN_REDIS_URL",
    "DUBAN_DATA_DIR",
    "DUBAN_PUBLIC_URL",
    "DUBAN_TRUSTED_PROXIES",
}
PATHS = {
    "DUBAN_INDICATORS",
    "DUBAN_ORG",
    "DUBAN_CAMPAIGNS_DIR",
}  # relative to the working directory
CREDENTIALS = {
    "DUBAN_DINGTALK_APP_KEY",
    "DUBAN_DINGTALK_APP_SECRET",
    "DUBAN_DINGTALK_ROBOT_CODE",
    "DUBAN_WECOM_TOKEN",
    "DUBAN_WECOM_AES_KEY",
    "DUBAN_WECOM_APP_TOKEN",
    "DUBAN_WECOM_APP_AES_KEY",
    "DUBAN_WECOM_CORP_ID",
    "DUBAN_FEISHU_APP_ID",
    "DUBAN_FEISHU_APP_SECRET",
    "DUBAN_FEISHU_VERIFICATION_TOKEN",
    "DUBAN_FEISHU_ENCRYPT_KEY",
    "DUBAN_WECOM_BOT_ID",
    "DUBAN_WECOM_BOT_SECRET",
}


class Recording(dict):
    """An environment that remembers every name it was asked about."""

    def __init__(self):
        super().__init__()
        self.asked: set[str] = set()

    def __contains__(self, key):
        self.asked.add(key)
        return super().__contains__(key)


def names_config_reads() -> set[str]:
    env = Recording()
    Settings.from_env(env)
    return {name for name in env.asked if name.startswith("DUBAN_")}


def test_lists_exactly_the_settings_config_reads():
    read, listed = names_config_reads(), set(env_example())
    assert len(read) > 40  # the recording saw the settings
    assert not read - listed, f"add to deploy/env.example: {sorted(read - listed)}"
    assert not listed - read, f"bot/config.py does not read: {sorted(listed - read)}"
    assert len(env_example()) == sum(
        1 for line in FILE.read_text(encoding="utf-8").splitlines() if line.startswith("DUBAN_")
    ), "a setting is listed twice"


def test_every_line_is_a_comment_or_a_plain_assignment():
    """No quotes, spaces, $ or backslashes in a value: each tool would read them differently."""
    for no, line in enumerate(FILE.read_text(encoding="utf-8").splitlines(), 1):
        if line and not line.startswith("#"):
            assert re.fullmatch(r"DUBAN_[A-Z0-9_]+=[^\s\"'$\\#`]*", line), f"line {no}: {line}"


def test_sh_reads_the_same_values(tmp_path):
    """`set -a; . FILE` (a shell, as an operator sources it) gets the values the tests read."""
    out = subprocess.run(
        ["sh", "-c", f'set -a; . "{FILE}"; env -0'],
        capture_output=True, check=True, env={"PATH": "/usr/bin:/bin"}, timeout=30,
    ).stdout.decode()  # fmt: skip
    shell = dict(item.split("=", 1) for item in out.split("\0") if item.startswith("DUBAN_"))
    assert shell == env_example()


def blocks() -> Iterator[tuple[str, list[str]]]:
    """(the comment just above a run of settings, those settings)."""
    comment: list[str] = []
    names: list[str] = []
    for line in FILE.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("DUBAN_"):
            names.append(line.partition("=")[0])
        elif names:
            yield "\n".join(comment), names
            comment, names = [], []
        if line.startswith("#"):
            comment.append(line)
        elif not line.strip():
            comment = comment if names else []


def test_each_setting_is_explained_in_chinese_and_in_english():
    seen = set()
    for comment, names in blocks():
        seen.update(names)
        prose = re.sub(r"DUBAN_\w+|https?://\S+", "", comment)
        assert re.search(r"[\u4e00-\u9fff]{4}", prose), f"no Chinese above {names}"
        english = re.findall(r"\b[a-z]{3,}\b", prose)
        assert len(english) >= 4, f"no English above {names}"
    assert seen == set(env_example())


def test_platform_credentials_say_where_in_the_console_they_come_from():
    for comment, names in blocks():
        for name in set(names) & CREDENTIALS:
            assert "后台" in comment and "console" in comment, name


@pytest.mark.parametrize("name", sorted(env_example()))
def test_each_value_is_valid_and_the_default_unless_a_production_example(name):
    value = env_example()[name]
    alone = Settings.from_env({name: value})  # raises ConfigError on a bad value
    if name in PRODUCTION_EXAMPLES:
        return
    if name in PATHS:
        value = str((ROOT / value).resolve())
        alone = Settings.from_env({name: value})
    assert alone == Settings(), f"{name}={env_example()[name]} is not the default"


def test_the_whole_file_makes_valid_settings():
    settings = Settings.from_env(env_example())
    assert not settings.demo
    assert settings.redis_url.startswith("redis://:")
    assert Path(settings.data_dir).is_absolute()

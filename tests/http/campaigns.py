"""A second campaign for the web tests: a small indicator table and org roster under tmp_path,
in a campaigns folder as a deployment has it (campaigns/<id>/campaign.yaml, indicators.yaml,
org.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.http.conftest import demo_env, runtime_for, use_env
from tests.http.conftest import testing_app as app_for

SECOND = "xixia-2021"  # a second district's campaign
SECOND_TITLE = "2021年西夏区法治政府建设示范创建"
SECOND_DEPARTMENTS = ["司法局", "行政审批局", "西夏区教育局"]
SECOND_PASSWORD = "xixia-pw"
SECOND_PASSWORD_ENV = "DUBAN_ADMIN_PASSWORD_XIXIA"
OLD = "jinfeng-2019"  # an archived campaign
OLD_TITLE = "2019年金凤区法治政府建设示范创建"


def small_table(ids: range) -> dict:
    """The shipped table cut to `ids`, renamed for a second district."""
    table = yaml.safe_load((ROOT / "indicators.yaml").read_text(encoding="utf-8"))
    table["campaign"]["name"] = SECOND_TITLE
    table["indicators"] = [i for i in table["indicators"] if i["id"] in ids]
    return table


def small_org() -> dict:
    departments = [
        {"name": n, "aliases": [], "tags": ["部门", "政府部门"], "chats": []}
        for n in SECOND_DEPARTMENTS
    ]
    return {
        "departments": departments,
        "groups": {"各部门(单位)": ["部门"]},
        "members": [
            {
                "platform": "sandbox",
                "user_id": "xiaozhao",
                "department": "西夏区教育局",
                "role": "liaison",
                "name": "小赵",
            },
        ],  # fmt: skip
        "admins": [{"platform": "sandbox", "user_id": "admin"}],
        "admin_chats": [],
        "policy": {"self_bind": True},
    }


def write_campaign(
    root: Path, cid: str, title: str, archived: bool = False, password_env: str = ""
) -> Path:
    folder = root / cid
    folder.mkdir(parents=True)
    meta = {"title": title, "archived": archived}
    if password_env:
        meta["admin_password_env"] = password_env
    dump = lambda data: yaml.safe_dump(data, allow_unicode=True, sort_keys=False)  # noqa: E731
    (folder / "campaign.yaml").write_text(dump(meta), encoding="utf-8")
    (folder / "indicators.yaml").write_text(dump(small_table(range(1, 6))), encoding="utf-8")
    (folder / "org.yaml").write_text(dump(small_org()), encoding="utf-8")
    return folder


@pytest.fixture
def camp_settings(redis_url, tmp_path, monkeypatch):
    root = tmp_path / "campaigns"
    write_campaign(root, SECOND, SECOND_TITLE, password_env=SECOND_PASSWORD_ENV)
    write_campaign(root, OLD, OLD_TITLE, archived=True)
    env = demo_env(
        redis_url, DUBAN_CAMPAIGNS_DIR=str(root), **{SECOND_PASSWORD_ENV: SECOND_PASSWORD}
    )
    return use_env(monkeypatch, env)


@pytest.fixture
def camp_rt(camp_settings, redis_client, clock):
    yield from runtime_for(camp_settings, clock)


@pytest.fixture
def camp_app(camp_rt):
    return app_for(camp_rt)

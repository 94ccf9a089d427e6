"""Campaign folders: loading, the errors of a broken one (campaign, file, row), chats that belong
to one campaign only, and which campaign a message acts on (bot/campaigns.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.campaigns import (
    ASK,
    NO_CAMPAIGN,
    CampaignError,
    Campaigns,
    chat_campaigns,
    load_all,
    load_specs,
)
from bot.config import Settings
from bot.messages import Incoming, Reply
from bot.preflight import data_file_problem

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo" / "campaigns" / "xixia-2020"


def folder(tmp_path: Path, cid: str = "xixia-2020", **edits: tuple[str, str]) -> Path:
    """A copy of the shipped demo campaign as `<tmp>/campaigns/<cid>`, with `file=(old, new)`
    replacements."""
    root = tmp_path / "campaigns"
    dest = root / cid
    shutil.copytree(DEMO, dest)
    for name, (old, new) in edits.items():
        path = dest / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        assert old in text, old
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return root


def settings(root: Path | str = "", **kw) -> Settings:
    return Settings(campaigns_dir=str(root), demo=True, **kw)


def line_of(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text("utf-8").splitlines(), 1) if needle in t)


def test_without_folders_the_top_level_files_are_the_one_default_campaign(tmp_path):
    specs = load_specs(settings(tmp_path / "none"))
    assert [s.id for s in specs] == ["default"]
    assert specs[0].indicators_path == str(ROOT / "indicators.yaml")
    assert [s.id for s in load_specs(settings(tmp_path / "none", campaign="jinfeng-2020"))] == [
        "jinfeng-2020"
    ]


def test_a_folder_adds_a_campaign_with_its_own_table_and_roster(tmp_path):
    root = folder(tmp_path)
    loaded = load_all(settings(root))
    assert [x.spec.id for x in loaded] == ["default", "xixia-2020"]
    xixia = loaded[1]
    assert xixia.spec.title == "2020年西夏区法治政府建设示范创建（演示）"
    assert "西夏区人民法院" in xixia.org.departments
    assert "金凤区人民法院" not in xixia.org.departments
    assert any(d == "西夏区人民法院" for _, d in xixia.assignments)
    # a demo campaign is left out of a deployment that is not in demo mode
    assert [s.id for s in load_specs(Settings(campaigns_dir=str(root)))] == ["default"]


def test_without_an_org_yaml_a_campaign_shares_the_top_level_roster(tmp_path):
    root = folder(tmp_path)
    (root / "xixia-2020" / "org.yaml").unlink()
    table = root / "xixia-2020" / "indicators.yaml"
    table.write_text((ROOT / "indicators.yaml").read_text("utf-8"), encoding="utf-8")
    loaded = load_all(settings(root))
    assert loaded[1].spec.org_path == ""
    assert loaded[1].org.departments == loaded[0].org.departments


def test_a_broken_row_stops_start_up_naming_the_campaign_the_file_and_the_row(tmp_path):
    root = folder(tmp_path, indicators=("  - id: 12\n", "  - id: 12\n    colour: red\n"))
    table = root / "xixia-2020" / "indicators.yaml"
    with pytest.raises(CampaignError) as e:
        load_all(settings(root))
    assert e.value.campaign == "xixia-2020"
    assert e.value.path == table
    problem = data_file_problem(settings(root))
    assert problem.startswith("督办没有启动：督办活动「xixia-2020」有误")
    line = line_of(table, "colour: red")
    assert f"indicators.yaml 第 {line} 行：指标 12：有未知字段 'colour'" in problem
    # the default campaign's files are fine: only the broken campaign is named
    assert "default" not in problem


def test_a_roster_that_does_not_cover_the_table_names_the_campaign(tmp_path):
    root = folder(tmp_path, org=("  - name: 西夏区人民法院\n", "  - name: 某某法院\n"))
    problem = data_file_problem(settings(root))
    assert "督办活动「xixia-2020」" in problem and "西夏区人民法院" in problem


def test_a_broken_campaign_yaml_is_named_with_its_field(tmp_path):
    root = folder(tmp_path, campaign=("archived: false", "archived: maybe"))
    with pytest.raises(CampaignError) as e:
        load_all(settings(root))
    assert e.value.path.name == "campaign.yaml"
    assert "archived" in str(e.value) and "xixia-2020" in str(e.value)
    root2 = folder(tmp_path / "b", campaign=("chats: []", "chats: []\ncolour: red"))
    assert "colour" in data_file_problem(settings(root2))


def test_a_folder_name_that_cannot_be_an_id_is_refused(tmp_path):
    root = folder(tmp_path, cid="Xixia 2020")
    with pytest.raises(CampaignError, match="只能用小写字母、数字"):
        load_specs(settings(root))


def test_a_campaign_cannot_take_the_default_campaigns_id(tmp_path):
    root = folder(tmp_path, cid="default")
    with pytest.raises(CampaignError, match="同名"):
        load_specs(settings(root))


def test_the_same_group_chat_in_two_campaigns_stops_start_up(tmp_path):
    chat = "chats:\n  - {platform: dingtalk, conversation_id: cid-shared}"
    root = folder(tmp_path, campaign=("chats: []", chat))
    shutil.copytree(root / "xixia-2020", root / "xixia-2021")
    with pytest.raises(
        CampaignError, match="cid-shared.*同时登记在督办活动「xixia-2020」和「xixia-2021」"
    ):
        load_all(settings(root))
    (root / "xixia-2021" / "campaign.yaml").write_text(
        (root / "xixia-2021" / "campaign.yaml").read_text("utf-8").replace("cid-shared", "cid-b"),
        encoding="utf-8",
    )
    chats = chat_campaigns(load_all(settings(root)))
    assert chats == {("dingtalk", "cid-shared"): "xixia-2020", ("dingtalk", "cid-b"): "xixia-2021"}


# --- routing -----------------------------------------------------------------------------


def campaigns(tmp_path, bound: dict[str, set[str]], chosen: dict | None = None) -> Campaigns:
    root = folder(tmp_path, campaign=("chats: []", "chats: [{platform: wecom, chat_id: wx-x}]"))
    loaded = load_all(settings(root))
    chosen = {} if chosen is None else chosen

    def choice(platform, user, choose=None):
        if choose is not None:
            chosen[(platform, user)] = choose
        return chosen.get((platform, user), "")

    return Campaigns(
        specs={x.spec.id: x.spec for x in loaded},
        titles={x.spec.id: x.catalog.campaign.name for x in loaded},
        orgs={x.spec.id: x.org for x in loaded},
        chats=chat_campaigns(loaded),
        bound={x.spec.id: (lambda p, u, cid=x.spec.id: u in bound.get(cid, set())) for x in loaded},
        choice=choice,
    )


def msg(text: str, user: str = "u1", chat: str = "", mentioned: bool = True) -> Incoming:
    return Incoming(
        platform="wecom", user_id=user, text=text, chat_id=chat, is_group=bool(chat),
        mentioned=mentioned,
    )  # fmt: skip


def test_a_group_chat_acts_in_its_campaign_and_an_unknown_one_is_told_what_to_configure(tmp_path):
    c = campaigns(tmp_path, {})
    assert c.route(msg("我的任务", chat="wx-x")) == "xixia-2020"
    told = c.route(msg("我的任务", chat="wx-unknown"))
    assert isinstance(told, Reply)
    assert told.text == NO_CAMPAIGN.format(platform="wecom", chat="wx-unknown")
    assert "campaign.yaml" in told.text and "wx-unknown" in told.text
    assert c.route(msg("闲聊", chat="wx-unknown", mentioned=False)).silent


def test_one_to_one_the_campaign_the_person_is_bound_in(tmp_path):
    c = campaigns(tmp_path, {"xixia-2020": {"u1"}})
    assert c.route(msg("我的任务")) == "xixia-2020"
    assert c.route(msg("我的任务", user="nobody")) == "default"  # bound nowhere: the default


def test_bound_in_two_campaigns_the_bot_asks_and_remembers_the_choice(tmp_path):
    chosen: dict = {}
    c = campaigns(tmp_path, {"default": {"u1"}, "xixia-2020": {"u1"}}, chosen)
    asked = c.route(msg("我的任务"))
    assert isinstance(asked, Reply)
    assert asked.text == ASK.format(items=c.numbered(["default", "xixia-2020"]))
    assert "1. 2020年金凤区法治政府建设示范创建" in asked.text
    assert "2. 2020年西夏区法治政府建设示范创建（演示）" in asked.text
    # 切换 goes through to a dispatcher (handlers/switch.py), which calls Campaigns.switch
    assert c.route(msg("切换 2")) == "default"
    done = c.switch(msg("切换 2"), "2")
    assert "已切换到「2020年西夏区法治政府建设示范创建（演示）」" in done.text
    assert chosen == {("wecom", "u1"): "xixia-2020"}
    assert c.route(msg("我的任务")) == "xixia-2020"
    assert (
        "已切换到「2020年金凤区" in c.switch(msg("切换"), "2020年金凤区法治政府建设示范创建").text
    )
    assert c.route(msg("我的任务")) == "default"
    # a bare number answers the question too
    chosen.clear()
    assert isinstance(c.route(msg("2")), Reply) and chosen[("wecom", "u1")] == "xixia-2020"
    wrong = c.switch(msg("切换 9"), "9")
    assert wrong.refused and "没有编号或名称为「9」" in wrong.text
    assert "群聊中不能切换" in c.switch(msg("切换 1", chat="wx-x"), "1").text


def test_one_campaign_routes_everything_to_it_without_a_round_trip(tmp_path):
    def never(*_):
        raise AssertionError("no lookup for a single campaign")

    c = Campaigns(
        specs={"default": load_specs(settings(tmp_path / "none"))[0]}, titles={}, orgs={},
        chats={}, bound={"default": never}, choice=never,
    )  # fmt: skip
    assert c.route(msg("我的任务", chat="any-group")) == "default"
    assert c.route(msg("我的任务")) == "default"

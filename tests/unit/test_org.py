"""The shipped org.yaml, group phrases, department search and assignment building."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path

import pytest
import yaml

from bot.catalog import Campaign, Catalog, Deadline, Indicator
from bot.messages import ChatTarget
from bot.org import Department, Member, Org, OrgError, build_assignments, org_from_dict
from bot.progress import Role

ROOT = Path(__file__).resolve().parents[2]

TOWNS = ("良田镇", "丰登镇")
STREETS = (
    "满城北街街道",
    "黄河东路街道",
    "长城中路街道",
    "北京中路街道",
    "上海西路街道",
    "宁安大街街道",
)
ENFORCEMENT = (
    "教育局",
    "民政局",
    "司法局",
    "人力资源和社会保障局",
    "住房城乡建设和交通局",
    "农业农村和水务局",
    "文化旅游体育广电局",
    "卫生健康局",
    "应急管理局",
    "统计局",
    "医疗保障局",
    "综合执法局",
    "市场监管分局",
    "生态环境分局",
    "公安分局",
    "自然资源分局",
)
PARTY = ("区委办", "组织部", "宣传部", "统战部", "政法委", "网信办", "编办", "监委")
# Every unit the responsibility table names by itself.
NAMED_IN_TABLE = (
    "行政审批局",
    "司法局",
    "编办",
    "发展与改革局",
    "民政局",
    "政府办",
    "财政局",
    "生态环境分局",
    "审计局",
    "综合执法局",
    "市场监管分局",
    "农业农村和水务局",
    "住房城乡建设和交通局",
    "文化旅游体育广电局",
    "金凤区人民检察院",
    "公安分局",
    "金凤区人民法院",
    "监委",
    "网信办",
    "宣传部",
    "信访局",
    "组织部",
    "人力资源和社会保障局",
)


def test_shipped_org_names_every_unit_of_the_table(org):
    for name in NAMED_IN_TABLE:
        assert org.expand(name) == (name,)
    assert 35 <= len(org.departments) <= 45
    assert all(not d.chats for d in org.departments.values())
    assert org.admin_chats == () and org.self_bind is True


def test_group_phrases_expand_by_tags(org):
    government = tuple(n for n, d in org.departments.items() if "政府部门" in d.tags)
    assert org.expand("各镇") == TOWNS
    assert org.expand("街道办事处") == STREETS
    assert org.expand("各行政执法部门") == ENFORCEMENT
    assert org.expand("各行政执法部门(单位)") == ENFORCEMENT
    assert org.expand("政府各部门(单位)") == government
    assert len(government) == 25 and not set(government) & set(PARTY)
    everyone = org.expand("各部门(单位)")
    assert everyone == tuple(n for n in org.departments if n in government or n in PARTY)
    for outside in (*TOWNS, *STREETS, "金凤区人民法院", "金凤区人民检察院"):
        assert outside not in everyone


def test_expand_folds_full_width_forms(org):
    assert org.expand("各部门（单位）") == org.expand("各部门(单位)")
    assert org.expand(" 司法局 ") == ("司法局",)


def test_expand_aliases(org):
    assert org.expand("区司法局") == ("司法局",)
    assert org.expand("法制办") == ("司法局",)
    assert org.expand("发改局") == ("发展与改革局",)
    assert org.expand("审批局") == ("行政审批局",)
    assert org.expand("人社局") == ("人力资源和社会保障局",)


def test_expand_unknown_phrase_fails(org):
    with pytest.raises(OrgError, match="'某某局' 不对应任何部门"):
        org.expand("某某局")


def test_every_phrase_of_the_shipped_catalogue_resolves(catalog, org):
    for ind in catalog.indicators.values():
        for phrase in (*ind.lead, *ind.cooperate):
            assert org.expand(phrase), (ind.id, phrase)
    assignments = build_assignments(catalog, org)
    assert {i for i, _ in assignments} == set(catalog.ids)


def test_shipped_assignments(catalog, org):
    a = build_assignments(catalog, org)
    # Row 1: 行政审批局 leads and also belongs to 各部门(单位), the cooperating group.
    assert a[(1, "行政审批局")] is Role.LEAD
    assert a[(1, "司法局")] is Role.COOPERATE
    assert a[(1, "组织部")] is Role.COOPERATE
    assert (1, "良田镇") not in a
    # Row 20: towns and streets cooperate.
    assert a[(20, "财政局")] is Role.LEAD
    assert a[(20, "良田镇")] is Role.COOPERATE and a[(20, "宁安大街街道")] is Role.COOPERATE
    # Row 45: six named enforcement units plus every other enforcement department lead.
    assert {d for (i, d), r in a.items() if i == 45 and r is Role.LEAD} == set(ENFORCEMENT)
    assert [d for (i, d) in a if i == 48] == ["金凤区人民检察院"]


def campaign() -> Campaign:
    return Campaign(
        name="测试",
        document="测试文件",
        issued_by="测试办",
        issued_on=datetime.date(2020, 8, 13),
        submit_to="test@example.com",
        deadlines=(Deadline("submit", "报送", datetime.date(2020, 8, 19)),),
    )


def indicator(id: int, lead: tuple[str, ...], cooperate: tuple[str, ...] = ()) -> Indicator:
    return Indicator(id, "一", "二", "三", "", None, lead, cooperate, False, "regular")


@pytest.fixture
def small_org() -> Org:
    return Org(
        departments={
            "司法局": Department("司法局", ("法制办",), ("部门", "行政执法")),
            "财政局": Department("财政局", (), ("部门",)),
            "良田镇": Department("良田镇", (), ("镇",)),
        },
        groups={"各部门(单位)": ("部门",), "各镇": ("镇",)},
        members=(Member("sandbox", "zs", "司法局", "liaison", "张三"),),
        admins=frozenset({("console", "admin")}),
    )


def test_lead_wins_over_cooperate_in_either_order(small_org):
    catalog = Catalog(
        campaign(),
        {
            1: indicator(1, ("司法局",), ("各部门(单位)", "各镇")),
            2: indicator(2, ("各部门(单位)",), ("法制办",)),
        },
    )
    assert build_assignments(catalog, small_org) == {
        (1, "司法局"): Role.LEAD,
        (1, "财政局"): Role.COOPERATE,
        (1, "良田镇"): Role.COOPERATE,
        (2, "司法局"): Role.LEAD,
        (2, "财政局"): Role.LEAD,
    }


def test_unresolved_phrase_names_the_indicator(small_org):
    catalog = Catalog(campaign(), {20: indicator(20, ("司法局",), ("某某局",))})
    with pytest.raises(OrgError) as e:
        build_assignments(catalog, small_org)
    assert str(e.value) == "指标 20: 责任单位 '某某局' 不对应任何部门"


def test_find_departments_exact_alias_and_fuzzy(org):
    assert [d.name for d in org.find_departments("司法局")] == ["司法局"]
    assert [d.name for d in org.find_departments("法制办")] == ["司法局"]
    assert [d.name for d in org.find_departments("司法")] == ["司法局"]
    assert [d.name for d in org.find_departments("审批")] == ["行政审批局"]
    assert [d.name for d in org.find_departments("发改委")] == ["发展与改革局"]
    assert [d.name for d in org.find_departments("卫生局")] == ["卫生健康局"]
    assert [d.name for d in org.find_departments(" 司法局\u3000")] == ["司法局"]
    assert len(org.find_departments("局")) > 10
    assert len(org.find_departments("街道")) == len(STREETS)
    assert org.find_departments("") == []
    assert org.find_departments("xyz") == []


def test_find_departments_ranks_the_closest_first(org):
    found = [d.name for d in org.find_departments("人民")]
    assert found == ["金凤区人民法院", "金凤区人民检察院", "良田镇", "丰登镇"]


def test_admins_and_members(org, small_org):
    assert org.is_admin("console", "admin") and org.is_admin("sandbox", "admin")
    assert not org.is_admin("dingtalk", "admin")
    assert not org.is_admin("sandbox", "zhangsan")
    zhang = org.member("sandbox", "zhangsan")
    assert zhang == Member("sandbox", "zhangsan", "司法局", "liaison", "张三")
    assert org.member("sandbox", "lisi").department == "行政审批局"
    assert org.member("dingtalk", "zhangsan") is None
    assert small_org.member("sandbox", "zs").role == "liaison"


def test_chats_of(small_org):
    chat = ChatTarget("wecom", chat_id="wrk1", webhook_key="k1")
    org = Org(
        departments={"司法局": Department("司法局", (), ("部门",), (chat,))},
        groups={},
    )
    assert org.chats_of("司法局") == (chat,)
    assert small_org.chats_of("财政局") == ()
    with pytest.raises(OrgError):
        small_org.chats_of("某某局")


# ---------------------------------------------------------------------------------------------
# Loader validation


@pytest.fixture
def doc() -> dict:
    return copy.deepcopy(yaml.safe_load((ROOT / "org.yaml").read_text(encoding="utf-8")))


def dept(doc: dict, name: str) -> dict:
    return next(d for d in doc["departments"] if d["name"] == name)


def test_loader_reads_chats(doc):
    dept(doc, "司法局")["chats"] = [
        {"platform": "dingtalk", "conversation_id": "cid1", "webhook": "https://x", "secret": "S"},
        {"platform": "wecom", "chat_id": "wrk1", "webhook_key": "k"},
    ]
    doc["admin_chats"] = [{"platform": "wecom", "webhook_key": "office"}]
    org = org_from_dict(doc)
    assert org.chats_of("司法局") == (
        ChatTarget("dingtalk", conversation_id="cid1", webhook="https://x", secret="S"),
        ChatTarget("wecom", chat_id="wrk1", webhook_key="k"),
    )
    assert org.admin_chats == (ChatTarget("wecom", webhook_key="office"),)


def test_loader_rejects_a_chat_without_address(doc):
    dept(doc, "司法局")["chats"] = [{"platform": "dingtalk", "secret": "S"}]
    with pytest.raises(OrgError, match=r"^org\.yaml: 部门 司法局: chats\[0\]: field 'webhook'"):
        org_from_dict(doc)


def test_loader_rejects_an_unknown_platform(doc):
    dept(doc, "财政局")["chats"] = [{"platform": "slack", "chat_id": "c"}]
    with pytest.raises(OrgError, match=r"部门 财政局: chats\[0\]: field 'platform' must be one of"):
        org_from_dict(doc)


def test_loader_rejects_a_duplicate_alias(doc):
    dept(doc, "财政局")["aliases"] = ["法制办"]
    with pytest.raises(
        OrgError,
        match=r"部门 财政局: field 'aliases' repeats '法制办', already used by 部门 司法局",
    ):
        org_from_dict(doc)


def test_loader_rejects_bad_tags(doc):
    dept(doc, "财政局")["tags"] = "部门"
    with pytest.raises(OrgError, match=r"部门 财政局: field 'tags' must be a list"):
        org_from_dict(doc)


def test_loader_rejects_an_unknown_field(doc):
    dept(doc, "编办")["alias"] = ["区委编办"]
    with pytest.raises(OrgError, match=r"部门 编办: unknown field 'alias'"):
        org_from_dict(doc)


def test_loader_rejects_a_group_whose_tags_nobody_carries(doc):
    doc["groups"]["各人民团体"] = ["人民团体"]
    with pytest.raises(OrgError, match=r"groups: 各人民团体: field 'tags' .* carried by no"):
        org_from_dict(doc)


def test_loader_rejects_a_member_of_an_unknown_department(doc):
    doc["members"][1]["department"] = "某某局"
    with pytest.raises(OrgError, match=r"members\[1\]: field 'department' names no department"):
        org_from_dict(doc)


def test_loader_rejects_a_bad_member_role(doc):
    doc["members"][0]["role"] = "boss"
    with pytest.raises(
        OrgError, match=r"members\[0\]: field 'role' must be one of member, liaison"
    ):
        org_from_dict(doc)


def test_loader_reads_numeric_user_ids_as_text(doc):
    doc["admins"].append({"platform": "dingtalk", "user_id": 12345})
    assert org_from_dict(doc).is_admin("dingtalk", "12345")


def test_loader_rejects_a_bad_policy(doc):
    doc["policy"] = {"self_bind": "yes"}
    with pytest.raises(OrgError, match=r"policy: field 'self_bind' must be true or false"):
        org_from_dict(doc)


def test_a_group_listed_for_one_department_is_its_own_and_a_shared_one_is_nobodys(doc):
    dept(doc, "司法局")["chats"] = [
        {"platform": "dingtalk", "conversation_id": "cid-sfj"},
        {"platform": "wecom", "chat_id": "wrk-sfj", "webhook_key": "k1"},
        {"platform": "dingtalk", "conversation_id": "cid-both"},
        {"platform": "feishu", "chat_id": "oc_sfj"},
        {"platform": "feishu", "webhook": "https://open.feishu.cn/open-apis/bot/v2/hook/t"},
    ]
    dept(doc, "教育局")["chats"] = [{"platform": "dingtalk", "conversation_id": "cid-both"}]
    org = org_from_dict(doc)
    assert org.department_of_chat("dingtalk", "cid-sfj") == "司法局"
    assert org.department_of_chat("wecom", "wrk-sfj") == "司法局"
    assert org.department_of_chat("feishu", "oc_sfj") == "司法局"  # as on the other platforms
    assert org.department_of_chat("wecom", "oc_sfj") == ""
    assert org.department_of_chat("wecom", "cid-sfj") == ""  # another platform's id
    assert org.department_of_chat("dingtalk", "cid-both") == ""  # shared: people bind
    assert org.department_of_chat("dingtalk", "") == ""


def test_members_may_have_an_email_address(doc):
    doc["members"] = [
        {"platform": "dingtalk", "user_id": "s1", "department": "司法局", "role": "liaison",
         "email": "lisi@jinfeng.gov.cn"},
    ]  # fmt: skip
    assert org_from_dict(copy.deepcopy(doc)).members[0].email == "lisi@jinfeng.gov.cn"
    doc["members"][0]["email"] = "lisi at jinfeng"
    with pytest.raises(OrgError, match=r"members\[0\]: field 'email' is not an e-mail address"):
        org_from_dict(doc)

"""The seed importer, the shipped indicators.yaml and the catalogue loader's validation."""

from __future__ import annotations

import copy
import datetime
import os
from pathlib import Path

import pytest
import yaml

from bot.catalog import (
    Campaign,
    CatalogError,
    Deadline,
    Event,
    catalog_from_dict,
    dump_document,
    parse_seed,
    seed_to_document,
    split_units,
)

ROOT = Path(__file__).resolve().parents[2]
SEED_NAME = "000_6365858b14120b95.txt"
SEED_CANDIDATES = [
    Path(os.environ.get("DUBAN_SEED", "/nonexistent")),
    ROOT / "seed" / SEED_NAME,
    ROOT / "docs" / "seed" / SEED_NAME,
]
SEED = next((p for p in SEED_CANDIDATES if p.is_file()), None)
needs_seed = pytest.mark.skipif(SEED is None, reason="seed notice not found (set DUBAN_SEED)")

L1_FUNCTIONS = "政府职能依法全面履行"
L1_RULES = "依法行政制度体系完善"
L1_DECISIONS = "重大行政决策科学民主合法"
L1_ENFORCEMENT = "行政执法严格规范公正文明"
L1_DISPUTES = "社会矛盾纠纷依法有效化解"
ALL_3 = ["各部门(单位)", "各镇", "街道办事处"]
EV_24 = (
    "(1)2019年以来本级政府及职能部门制定的行政规范性文件目录; "
    "(2)2019年以来本级政府对颁布的涉及公民、企业权利义务的行政规范性文件进行合法性审核的情况说明; "
    "(3)2019年以来本级政府加强规范性制定和监督管理的情况说明。"
)
EV_31 = "本级政府制定的重大行政决策事项目录。重大行政决策程序及相关证明材料。向社会公开。"
EV_96 = "获奖证明材料,及工作开展工作资料。"


def row(id, level1, level2, level3, evidence, evidence_from, lead, cooperate, kind="regular"):
    return {
        "id": id,
        "level1": level1,
        "level2": level2,
        "level3": level3,
        "evidence": evidence,
        "evidence_from": evidence_from,
        "units": {"lead": lead, "cooperate": cooperate},
        "star": False,
        "kind": kind,
    }


# Transcribed by hand from the seed's responsibility table.
EXPECTED = [
    row(
        1,
        L1_FUNCTIONS,
        "行政审批制度改革全面推行。",
        "向社会公布本级政府全部行政审批事项清单,实行目录化、编码化、动态化管理。"
        "行政审批事项在法定期限内完成并不断压缩办理时限。",
        "2019年以来本级政府及相关职能部门压缩行政审批办理时限的情况说明或者证明材料。",
        None,
        ["行政审批局"],
        ["各部门(单位)"],
    ),
    row(
        7,
        L1_FUNCTIONS,
        "落实权责清单、负面清单制度并实行动态管理。",
        "编制并对外公布全部政府工作部门的权责清单、公共服务事项清单,逐一明确法律依据、实施主体、"
        "监督方式、责任方式等相关事项,并根据法律法规的变化实行动态调整。",
        "金凤区政府权力清单及权力运行责任清单动态调整完备,并在金凤区政府网站公示。",
        None,
        ["编办", "司法局"],
        ["各部门(单位)"],
    ),
    row(
        13,
        L1_FUNCTIONS,
        "加强事中事后监管。",
        "加强信用监管,推进涉企信息归集共享,严格依法科学界定守信和失信行为,"
        "实行守信联合激励和失信联合惩戒机制,做到市场主体“一处违法、处处受限”。",
        "(1)本级政府或上一级政府加强信用监管的规章或文件; "
        "(2)2019年以来本级政府及职能部门对失信主体开展失信惩戒的情况说明及相关证明材料。",
        None,
        ["发展与改革局", "民政局"],
        [],
    ),
    row(
        20,
        L1_FUNCTIONS,
        "创新社会治理,优化公共服务。",
        "建立健全政府购买公共服务制度,公开政府购买公共服务目录。"
        "凡属事务性管理服务,原则上都要引入竞争机制向社会购买;",
        "(1)2019年以来本级政府通过公开招标方式向社会购买公共服务的情况说明; "
        "(2)2019年以来本地区实行政府和社会资本合作项目的情况说明及相关证明材料。",
        None,
        ["财政局"],
        ALL_3,
    ),
    row(
        24,
        L1_RULES,
        "加强行政规范性文件制定和监督管理。",
        "重要的行政规范性文件依法依规执行评估论证、公开征求意见、合法性审核、集体审议决定、"
        "向社会公开发布等程序。专业性、技术性较强的行政规范性文件,组织相关领域专家进行论证。"
        "评估论证结论在文件起草说明中写明,作为制发文件的重要依据。",
        EV_24,
        None,
        ["司法局"],
        ALL_3,
    ),
    row(
        25,
        L1_RULES,
        "加强行政规范性文件制定和监督管理。",
        "行政规范性文件没有增加法律、法规规定之外的行政权力事项或者减少法定职责;",
        EV_24,
        24,
        ["司法局"],
        ALL_3,
    ),
    row(
        26,
        L1_RULES,
        "加强行政规范性文件制定和监督管理。",
        "行政规范性文件的合法性审核率达100%。制定机关负责合法性审核的部门对文件的制定主体、"
        "程序和有关内容等是否符合法律法规规章和国家政策的规定,及时进行合法性审核。"
        "合法性审核的时间一般不少于5个工作日,最长不超过15个工作日;",
        EV_24,
        24,
        ["司法局"],
        ALL_3,
    ),
    row(
        27,
        L1_RULES,
        "加强行政规范性文件制定和监督管理。",
        "没有发生因行政规范性文件未按程序制定被通报的情况,或者因行政规范性文件内容违法或者"
        "超越法定职权,被本级人大常委会或者上级行政机关责令改正或者撤销的情况,"
        "被行政复议机关、人民法院认定为不合法的情况。",
        EV_24,
        24,
        ["司法局"],
        ALL_3,
    ),
    row(
        31,
        L1_DECISIONS,
        "依法决策机制健全。",
        "制定重大行政决策事项目录、标准,向社会公开,并根据实际情况调整;",
        EV_31,
        None,
        ["政府办"],
        ["各部门(单位)"],
    ),
    row(
        32,
        L1_DECISIONS,
        "依法决策机制健全。",
        "重大行政决策依法自觉接受本级人大及其常委会的监督,根据法律法规规定属于本级人大及其"
        "常委会讨论决定的重大事项范围或者应当在出台前向本级人大及其常委会报告的,"
        "严格按照有关规定办理。",
        EV_31,
        31,
        ["政府办"],
        ["各部门(单位)"],
    ),
    row(
        33,
        L1_DECISIONS,
        "公众参与。",
        "实行重大行政决策公开制度,除依法应当保密的外,决策事项、依据和结果全部公开,"
        "并为公众查阅提供服务。对社会关注度高的决策事项,认真进行解释说明。",
        EV_31,
        31,
        ["政府办"],
        ALL_3,
    ),
    row(
        34,
        L1_DECISIONS,
        "公众参与。",
        "除依法不予公开的外,重大行政决策事项充分听取社会公众意见,并向社会及时反馈意见采纳情况"
        "和理由。如向社会公开征求意见的,征求意见期限一般不少于30日。",
        EV_31,
        31,
        ["政府办"],
        ALL_3,
    ),
    row(
        35,
        L1_DECISIONS,
        "公众参与。",
        "重大行政决策事项涉及企业和特定群体、行业利益的,充分听取企业、行业协会商会、人民团体、"
        "社会组织、群众代表等的意见。全面推行文化教育、医疗卫生、食品安全、资源开发、"
        "生态环境保护、公用事业等重大民生决策事项民意调查制度。",
        EV_31,
        31,
        ["政府办"],
        ALL_3,
    ),
    row(
        45,
        L1_ENFORCEMENT,
        "行政执法体制权责统一、权威高效。",
        "根据本级政府事权和职能,推进综合执法,市场监管、生态环境保护、文化市场、交通运输、农业、"
        "城市管理综合执法队伍整合组建完成。",
        "2019年以来本地区推进综合执法机构改革进展的情况说明及相关证明材料。",
        None,
        [
            "综合执法局",
            "市场监管分局",
            "生态环境分局",
            "农业农村和水务局",
            "住房城乡建设和交通局",
            "文化旅游体育广电局",
            "各行政执法部门",
        ],
        [],
    ),
    row(
        85,
        L1_DISPUTES,
        "加强法治宣传教育。",
        "广泛开展形式多样、生动活泼的法治宣传教育活动。开展“12.4”国家宪法周(日)集中宣传教育活动。"
        "严格落实国家工作人员宪法宣誓制度。全面加强青少年法治宣传教育。",
        "(1)对本地区2019年法治宣传工作的情况说明;(2)各种法治宣传活动方案、活动图片、信息及"
        "档案资料;(3)宪法宣誓图片。",
        None,
        ["政府各部门(单位)", "各镇", "街道办事处"],
        [],
    ),
    row(
        86,
        L1_DISPUTES,
        "加强法治宣传教育。",
        "严格落实“谁执法谁普法”普法责任制,普遍实施以案释法制度,在执法实践中深入开展以案释法和"
        "警示教育。",
        "(1)工作制度及制度执行情况说明及档案资料;(2)以案释法和警示教育图片、信息等。",
        None,
        ["政府各部门(单位)", "司法局"],
        [],
    ),
    row(
        96,
        "附加项",
        "加分项。",
        "法治政府建设有关工作获得省部级以上表彰、奖励的。",
        EV_96,
        None,
        ["司法局"],
        [],
        "bonus",
    ),
    row(
        97,
        "附加项",
        "加分项。",
        "在法治政府建设上积极创新、深化改革,有关做法经验在全国范围内推广的。",
        EV_96,
        96,
        ["司法局"],
        [],
        "bonus",
    ),
    row(
        98,
        "附加项",
        "减分项。",
        "发生严重违法行政行为,或者因行政不作为、乱作为造成恶劣社会影响的。",
        "",
        None,
        ["司法局"],
        [],
        "deduction",
    ),
    row(
        99,
        "附加项",
        "减分项。",
        "在示范创建活动的申报材料中,故意编造、虚构有关数据、资料、文件等,或者隐瞒事实真相的。",
        "",
        None,
        ["司法局"],
        [],
        "deduction",
    ),
]


@pytest.fixture(scope="module")
def shipped() -> dict:
    return yaml.safe_load((ROOT / "indicators.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def imported() -> list[dict]:
    if SEED is None:
        pytest.skip("seed notice not found (set DUBAN_SEED)")
    return parse_seed(SEED.read_text(encoding="utf-8"))


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda r: f"row{r['id']}")
def test_importer_transcribes_row(imported, expected):
    got = imported[expected["id"] - 1]
    for field, value in expected.items():
        assert got[field] == value, (expected["id"], field)
    assert set(got) == set(expected)


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda r: f"row{r['id']}")
def test_shipped_file_has_row(shipped, expected):
    got = shipped["indicators"][expected["id"] - 1]
    for field, value in expected.items():
        assert got[field] == value, (expected["id"], field)


@needs_seed
def test_shipped_file_equals_a_fresh_import():
    fresh = dump_document(seed_to_document(SEED.read_text(encoding="utf-8")))
    assert (ROOT / "indicators.yaml").read_text(encoding="utf-8") == fresh


def test_shipped_file_has_all_99_indicators_in_order(catalog, shipped):
    assert [i["id"] for i in shipped["indicators"]] == list(range(1, 100))
    assert catalog.ids == tuple(range(1, 100))
    assert (catalog.min_id, catalog.max_id) == (1, 99)
    assert catalog.get(100) is None
    kinds = {
        k: [i for i in catalog.ids if catalog.get(i).kind == k] for k in ("bonus", "deduction")
    }
    assert kinds == {"bonus": [96, 97], "deduction": [98, 99]}
    assert not any(ind.star for ind in catalog.indicators.values())
    # Only the deduction items lack evidence.
    assert [i for i in catalog.ids if not catalog.get(i).evidence] == [98, 99]


def test_shipped_campaign(catalog):
    assert catalog.campaign == Campaign(
        name="2020年金凤区法治政府建设示范创建",
        document="银金法办发〔2020〕27号",
        issued_by="中共银川市金凤区委依法治区委员会办公室",
        issued_on=datetime.date(2020, 8, 13),
        submit_to="jfqfzb@163.com",
        deadlines=(
            Deadline("submit", "资料目录报送", datetime.date(2020, 8, 19)),
            Deadline("complete", "示范创建资料全面完成", datetime.date(2020, 8, 31)),
        ),
        # The September inspection is an event with a window, not a deadline on 9/1.
        events=(
            Event(
                "inspection",
                "自治区实地查验(纸质材料成册备查)",
                datetime.date(2020, 9, 1),
                datetime.date(2020, 9, 30),
                None,
            ),
        ),
    )
    assert catalog.campaign.events[0].is_month_window


def test_next_deadline(catalog):
    c = catalog.campaign
    assert c.next_deadline(datetime.date(2020, 8, 14)).key == "submit"
    assert c.next_deadline(datetime.date(2020, 8, 19)).key == "submit"
    assert c.next_deadline(datetime.date(2020, 8, 20)).key == "complete"
    assert c.next_deadline(datetime.date(2020, 8, 31)).key == "complete"
    assert c.next_deadline(datetime.date(2020, 9, 1)) is None  # the inspection is no deadline


def test_shifted_campaign_moves_every_date(catalog):
    c = catalog.campaign.shifted(7 * 300)
    delta = datetime.timedelta(days=2100)
    assert c.issued_on == datetime.date(2020, 8, 13) + delta
    assert [d.date for d in c.deadlines] == [
        datetime.date(2020, 8, 19) + delta,
        datetime.date(2020, 8, 31) + delta,
    ]
    ev = c.event("inspection")
    assert (ev.window_start, ev.window_end) == (
        datetime.date(2020, 9, 1) + delta,
        datetime.date(2020, 9, 30) + delta,
    )
    assert catalog.campaign.shifted(0) is catalog.campaign


def test_secret_and_regular_indicators(catalog):
    # 涉密 in the 考评要点: row 77's own, and row 78's shared through the merged cell
    assert [i for i in catalog.ids if catalog.get(i).is_secret] == [77, 78]
    assert catalog.get(78).evidence_from == 77
    assert catalog.regular_ids == frozenset(range(1, 96))


def test_importer_keeps_the_tables_text_as_written():
    # Full-width punctuation stays as the table writes it; only the parsing folds widths.
    seed = (
        "附件 责任表 | | |\n"
        "序号 | 一级指标 | 二级指标 | 三级指标 | 考评要点 | 责任单位 | 备注 |\n"
        "１ | 政府职能依法全面履行 | 行政审批制度改革全面推行。 | "
        "向社会公布清单，实行目录化（编码化）管理。 | （1）情况说明；（2）证明材料。 | "
        "行政审批局，各部门（单位）配合 | ★ |\n"
    )
    [r] = parse_seed(seed)
    assert r["id"] == 1 and r["star"] is True
    assert r["level3"] == "向社会公布清单，实行目录化（编码化）管理。"
    assert r["evidence"] == "（1）情况说明；（2）证明材料。"
    assert r["units"] == {"lead": ["行政审批局"], "cooperate": ["各部门（单位）"]}


@needs_seed
def test_shipped_texts_are_the_seeds_own_words(shipped):
    text = SEED.read_text(encoding="utf-8")
    for ind in shipped["indicators"]:
        for field in ("level1", "level2", "level3", "evidence"):
            assert ind[field] in text, (ind["id"], field)
        for unit in ind["units"]["lead"] + ind["units"]["cooperate"]:
            assert unit in text, (ind["id"], unit)


def test_indicator_values_are_tuples(catalog):
    ind = catalog.get(20)
    assert ind.lead == ("财政局",)
    assert ind.cooperate == ("各部门(单位)", "各镇", "街道办事处")
    assert ind.evidence_from is None and catalog.get(25).evidence_from == 24


# ---------------------------------------------------------------------------------------------
# The importer on small synthetic tables


HEADER = "序号 | 一级指标 | 二级指标 | 三级指标 | 考评要点 | 责任单位 | 备注 |"


def test_parse_seed_skips_headers_and_reads_a_star_remark():
    text = "\n".join(
        [
            "附件 责任表 | ||||||",
            HEADER,
            "1 | 甲类 | 乙项。 | 要求一。 | (1)情况说明。 | 司法局 | ★ |",
            "序号 | 一级指标 | 二级指标 | 三级指标 | 序号 | 责任单位 |",
            "2 | 要求二。 | 司法局、各部门(单位)配合 | | | |",
            "注:★代表重要等级 |",
        ]
    )
    rows = parse_seed(text)
    assert [r["id"] for r in rows] == [1, 2]
    assert rows[0]["star"] is True and rows[1]["star"] is False
    assert rows[1]["evidence"] == "(1)情况说明。" and rows[1]["evidence_from"] == 1
    assert rows[1]["units"] == {"lead": ["司法局"], "cooperate": ["各部门(单位)"]}


def test_parse_seed_tells_a_new_level2_from_a_requirement():
    text = "\n".join(
        [
            HEADER,
            "1 | 甲类 | 乙项。 | 要求一,很长的一句话。 | 工作开展情况及相关证明材料。 | 司法局 | |",
            "2 | 要求二,很长的一句话。 | 2019年以来的情况说明。 | 司法局 | | |",
            "3 | 丙项。 | 要求三,很长的一句话。 | 司法局 | | |",
        ]
    )
    rows = parse_seed(text)
    assert rows[1]["level2"] == "乙项。" and rows[1]["evidence_from"] is None
    assert rows[2]["level2"] == "丙项。"
    assert rows[2]["level3"] == "要求三,很长的一句话。"
    assert (rows[2]["evidence"], rows[2]["evidence_from"]) == ("2019年以来的情况说明。", 2)


def test_parse_seed_rejects_numbering_gaps():
    text = "\n".join(
        [HEADER, "1 | 甲类 | 乙项。 | 要求。 | 情况说明。 | 司法局 | |", "3 | 要求。 | 司法局 |"]
    )
    with pytest.raises(CatalogError, match="not 1..2"):
        parse_seed(text)


@pytest.mark.parametrize(
    ("cell", "lead", "cooperate"),
    [
        ("行政审批局,各部门(单位)配合", ["行政审批局"], ["各部门(单位)"]),
        ("编办、司法局,各部门(单位)配合", ["编办", "司法局"], ["各部门(单位)"]),
        ("财政局、各部门(单位)、各镇、街道办事处配合", ["财政局"], ALL_3),
        ("政府各部门(单位)、各镇、街道办事处", ["政府各部门(单位)", "各镇", "街道办事处"], []),
        ("司法局，各部门(单位)配合", ["司法局"], ["各部门(单位)"]),  # full-width comma
        ("发展与改革局、民政局", ["发展与改革局", "民政局"], []),
    ],
)
def test_split_units(cell, lead, cooperate):
    assert split_units(cell) == (lead, cooperate)


# ---------------------------------------------------------------------------------------------
# Loader validation


@pytest.fixture
def doc(shipped) -> dict:
    return copy.deepcopy(shipped)


def by_id(doc: dict, id: int) -> dict:
    return next(i for i in doc["indicators"] if i["id"] == id)


def test_loader_accepts_the_shipped_document(doc):
    assert len(catalog_from_dict(doc).indicators) == 99


def test_loader_rejects_a_bad_kind(doc):
    by_id(doc, 12)["kind"] = "extra"
    with pytest.raises(CatalogError, match=r"^indicators\.yaml: 指标 12: field 'kind' must be one"):
        catalog_from_dict(doc)


def test_loader_rejects_a_missing_field(doc):
    del by_id(doc, 30)["level3"]
    with pytest.raises(CatalogError, match=r"指标 30: field 'level3' is missing"):
        catalog_from_dict(doc)


def test_loader_rejects_an_empty_lead(doc):
    by_id(doc, 12)["units"]["lead"] = []
    with pytest.raises(
        CatalogError,
        match=r"^indicators\.yaml: 指标 12: field 'units\.lead' must be a non-empty list",
    ):
        catalog_from_dict(doc)


def test_loader_rejects_a_duplicate_id(doc):
    by_id(doc, 41)["id"] = 40
    with pytest.raises(CatalogError, match=r"指标 40: field 'id' 40 is used twice"):
        catalog_from_dict(doc)


def test_loader_rejects_a_dangling_evidence_from(doc):
    by_id(doc, 25)["evidence_from"] = 26  # later, not earlier
    with pytest.raises(CatalogError, match=r"指标 25: field 'evidence_from' must name an earlier"):
        catalog_from_dict(doc)


def test_loader_rejects_evidence_differing_from_its_source(doc):
    by_id(doc, 25)["evidence"] = "别的材料"
    with pytest.raises(CatalogError, match=r"指标 25: field 'evidence' must equal"):
        catalog_from_dict(doc)


def test_loader_rejects_wrong_types(doc):
    by_id(doc, 7)["star"] = "yes"
    with pytest.raises(CatalogError, match=r"指标 7: field 'star' must be true or false"):
        catalog_from_dict(doc)
    doc = copy.deepcopy(doc)
    by_id(doc, 7)["star"] = False
    by_id(doc, 8)["level1"] = 5
    with pytest.raises(CatalogError, match=r"指标 8: field 'level1' must be a string"):
        catalog_from_dict(doc)


def test_loader_rejects_an_unknown_field(doc):
    by_id(doc, 9)["stars"] = True
    with pytest.raises(CatalogError, match=r"指标 9: unknown field 'stars'"):
        catalog_from_dict(doc)


def test_loader_rejects_unordered_deadlines(doc):
    deadlines = doc["campaign"]["deadlines"]
    deadlines[0]["date"], deadlines[1]["date"] = deadlines[1]["date"], deadlines[0]["date"]
    with pytest.raises(CatalogError, match=r"campaign: deadline 2: field 'date' must be later"):
        catalog_from_dict(doc)


def test_loader_reads_events_and_rejects_bad_ones(doc):
    ev = doc["campaign"]["events"][0]
    ev["date"] = datetime.date(2020, 9, 15)
    c = catalog_from_dict(copy.deepcopy(doc)).campaign
    assert c.event("inspection").date == datetime.date(2020, 9, 15)
    for value, problem in (
        ("2020-9", "must be a month"),
        ("2020-13", "must be a month"),
        (None, "must be a month"),
    ):
        bad = copy.deepcopy(doc)
        bad["campaign"]["events"][0]["window"] = value
        with pytest.raises(CatalogError, match=rf"campaign: event 1: field 'window' {problem}"):
            catalog_from_dict(bad)
    bad = copy.deepcopy(doc)
    bad["campaign"]["events"][0]["key"] = "submit"
    with pytest.raises(CatalogError, match=r"event 1: field 'key' 'submit' is used twice"):
        catalog_from_dict(bad)
    bad = copy.deepcopy(doc)
    bad["campaign"]["events"][0]["date"] = datetime.date(2020, 8, 1)
    with pytest.raises(CatalogError, match=r"event 1: field 'date' must not be before issued_on"):
        catalog_from_dict(bad)
    del doc["campaign"]["events"]  # events are optional
    assert catalog_from_dict(doc).campaign.events == ()


def test_loader_rejects_a_bad_campaign_date(doc):
    doc["campaign"]["issued_on"] = "13 August"
    with pytest.raises(CatalogError, match=r"campaign: field 'issued_on' must be a date"):
        catalog_from_dict(doc)

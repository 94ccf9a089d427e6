import datetime as dt
import html
import io
import zipfile

import docx
import openpyxl
import pytest
from docx.opc.constants import RELATIONSHIP_TYPE

from bot.catalog import Campaign, Catalog, Deadline, Indicator
from bot.progress import Assignment, Material, Role, Status, link_name
from bot.reports import (
    COLUMNS,
    CatalogRow,
    Sender,
    actor_label,
    department_workbook,
    district_workbook,
    explanation_document,
    is_web_url,
    sheet_name,
)

CAMPAIGN = Campaign(
    name="2020年金凤区法治政府建设示范创建",
    document="银金法办发〔2020〕27号",
    issued_by="中共银川市金凤区委依法治区委员会办公室",
    issued_on=dt.date(2020, 8, 13),
    submit_to="jfqfzb@163.com",
    deadlines=(Deadline("submit", "资料目录报送", dt.date(2020, 8, 19)),),
)
GENERATED = dt.datetime(2020, 8, 18, 16, 30, tzinfo=dt.UTC)  # 2020-08-19 00:30 in Shanghai
URL = "https://www.jinfeng.gov.cn/zwgk/xzsp/qd.html"
EVIL_TITLE = "=cmd|' /C calc'!A0"


def indicator(id, level3, *, lead=("司法局",), cooperate=()):
    return Indicator(
        id=id,
        level1="政府职能依法全面履行",
        level2="行政审批制度改革全面推行",
        level3=level3,
        evidence=f"第{id}项的考评要点",
        evidence_from=None,
        lead=lead,
        cooperate=cooperate,
        star=False,
        kind="regular",
    )


INDICATORS = {
    1: indicator(1, "向社会公布本级政府全部行政审批事项清单，" + "并动态调整" * 12),
    2: indicator(2, "全面清理规范行政审批中介服务事项", lead=("行政审批局",)),
    8: indicator(8, "建立权责清单动态调整机制"),
    12: indicator(12, "推进综合行政执法体制改革", lead=("行政审批局",), cooperate=("司法局",)),
}
CATALOG = Catalog(CAMPAIGN, INDICATORS)

JUSTICE = {
    1: Assignment(
        1,
        "司法局",
        Role.LEAD,
        Status.DONE,
        materials=(
            Material("行政审批事项清单", URL, "张三", "2020-08-14T02:30:00Z"),
            Material(
                "2019年压缩办理时限情况说明", "", "李四", "2020-08-15T09:05:00+00:00", "档案室3号柜"
            ),
        ),
        explanation="已在区政府网站公开。\n清单随机构改革动态调整。",
        updated_by="张三",
        updated_at="2020-08-15T09:06:00Z",
    ),
    2: Assignment(2, "司法局", Role.COOPERATE, Status.TODO),
    8: Assignment(
        8,
        "司法局",
        Role.LEAD,
        Status.RETURNED,
        materials=(Material(EVIL_TITLE, "javascript:alert(1)", "王五", "2020-08-16T01:00:00Z"),),
        reason="链接无法打开",
        updated_by="admin",
        updated_at="2020-08-17T03:00:00Z",
    ),
    12: Assignment(
        12,
        "司法局",
        Role.COOPERATE,
        Status.NOT_APPLICABLE,
        reason="本单位无此职能",
        updated_by="张三",
        updated_at="2020-08-16T08:00:00Z",
    ),
}
# deliberately out of indicator order
ROWS = [CatalogRow(INDICATORS[i], JUSTICE[i]) for i in (8, 1, 12, 2)]


def load(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def values(ws, row: int, width: int = len(COLUMNS)) -> list:
    return [ws.cell(row=row, column=c).value for c in range(1, width + 1)]


@pytest.fixture(scope="module")
def dept_book() -> bytes:
    return department_workbook(CAMPAIGN, "司法局", ROWS, GENERATED)


# --- department workbook ----------------------------------------------------------------------


def test_department_workbook_header(dept_book):
    wb = load(dept_book)
    assert wb.sheetnames == ["资料目录", "明细", "汇总"]
    ws = wb["资料目录"]
    assert ws["A1"].value == "2020年金凤区法治政府建设示范创建资料目录"
    assert "银金法办发〔2020〕27号" in ws["A2"].value
    assert "报送单位：司法局" in ws["A2"].value
    assert "2020-08-19 00:30" in ws["A2"].value
    # two header rows: a group title over its columns, 序号 and 备注 over both rows
    assert values(ws, 3) == ["序号", "指标", None, None, "报送材料", None, None, "备注"]
    assert values(ws, 4) == [
        None, "一级指标", "二级指标", "三级指标", "材料名称", "类型", "网址或存放位置", None,
    ]  # fmt: skip
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert {"A3:A4", "B3:D3", "E3:G3", "H3:H4"} <= merged
    assert ws.freeze_panes == "A5"
    assert ws.column_dimensions["D"].width >= 30 and ws.column_dimensions["G"].width >= 30
    assert ws["D5"].alignment.wrap_text and ws["E5"].alignment.wrap_text


def test_catalogue_prints_on_a4_landscape_with_its_header_on_every_page(dept_book):
    for ws in load(dept_book)["资料目录"], load(dept_book)["明细"]:
        assert ws.page_setup.orientation == "landscape"
        assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert (int(ws.page_setup.fitToWidth), int(ws.page_setup.fitToHeight)) == (1, 0)
    ws = load(dept_book)["资料目录"]
    assert ws.print_title_rows == "$3:$4"
    assert ws.print_area == "'资料目录'!$A$1:$H$9"


def test_one_row_per_material_and_the_indicator_written_once(dept_book):
    ws = load(dept_book)["资料目录"]
    ind1 = INDICATORS[1]
    assert values(ws, 5) == [
        1, ind1.level1, ind1.level2, ind1.level3,
        "行政审批事项清单", "网上链接", URL, "牵头",
    ]  # fmt: skip
    # the indicator's cells are merged over its second material: not repeated
    assert values(ws, 6) == [None] * 4 + ["2019年压缩办理时限情况说明", "纸质", "档案室3号柜", None]
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert {"A5:A6", "B5:B6", "C5:C6", "D5:D6", "H5:H6"} <= merged
    every = [c.value for row in ws.iter_rows(min_row=5) for c in row if c.value]
    assert every.count(ind1.level3) == 1
    # the merged text fits: the block is as tall as the requirement's wrapped lines need
    lines = -(-sum(2 for _ in ind1.level3) // (ws.column_dimensions["D"].width - 1))
    assert ws.row_dimensions[5].height + ws.row_dimensions[6].height >= 15 * lines
    # item 2 has nothing yet: no row, and the line under the table names it
    assert values(ws, 7)[0] == 8 and values(ws, 7)[4] == EVIL_TITLE
    assert values(ws, 8)[:1] + values(ws, 8)[4:] == [
        12,
        "本单位不涉及（本单位无此职能）",
        None,
        None,
        "配合",
    ]
    assert values(ws, 9)[0] == "尚未报送材料的指标（1项）：第2项。"
    assert ws.max_row == 9
    # nothing internal on the catalogue
    for word in ("已完成", "已退回", "张三", "2020-08-14 10:30", "已在区政府网站公开。"):
        assert not any(word in str(v) for v in every), word


def test_the_second_sheet_keeps_what_the_office_tracks(dept_book):
    ws = load(dept_book)["明细"]
    assert values(ws, 3, 10) == [
        "序号", "二级指标", "牵头/配合", "材料名称", "类型", "网址或存放位置", "报送说明", "状态",
        "提交人", "时间",
    ]  # fmt: skip
    explanation = "已在区政府网站公开。\n清单随机构改革动态调整。"
    assert values(ws, 4, 10)[3:] == [
        "行政审批事项清单", "网上链接", URL, explanation, "已完成", "张三", "2020-08-14 10:30",
    ]  # fmt: skip
    assert values(ws, 5, 10)[3:] == [
        "2019年压缩办理时限情况说明", "纸质", "档案室3号柜", explanation, "已完成", "李四",
        "2020-08-15 17:05",
    ]  # fmt: skip
    assert values(ws, 6, 10)[:3] + values(ws, 6, 10)[7:] == [
        2, INDICATORS[2].level2, "配合", "未开始", None, None,
    ]  # fmt: skip
    assert values(ws, 7, 10)[7] == "已退回（链接无法打开）"
    assert values(ws, 8, 10)[7:] == ["不涉及（本单位无此职能）", "张三", "2020-08-16 16:00"]
    assert ws.max_row == 8 and ws.auto_filter.ref == "A3:J8"


def test_only_http_urls_are_clickable(dept_book):
    ws = load(dept_book)["资料目录"]
    assert ws["G5"].hyperlink is not None
    assert ws["G5"].hyperlink.target == URL
    assert ws["G6"].hyperlink is None  # paper
    assert ws["G7"].value == "javascript:alert(1)"
    assert ws["G7"].hyperlink is None
    linked = [c.coordinate for row in ws.iter_rows() for c in row if c.hyperlink is not None]
    assert linked == ["G5"]


def test_user_text_is_never_a_formula(dept_book):
    ws = load(dept_book)["资料目录"]
    assert ws["E7"].value == EVIL_TITLE
    assert ws["E7"].data_type == "s"
    with zipfile.ZipFile(io.BytesIO(dept_book)) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        assert sheets
        for name in sheets:
            assert b"<f>" not in z.read(name) and b"<f " not in z.read(name)


def test_department_summary_sheet(dept_book):
    ws = load(dept_book)["汇总"]
    table = {
        ws.cell(row=r, column=1).value: ws.cell(row=r, column=2).value
        for r in range(3, ws.max_row + 1)
        if ws.cell(row=r, column=1).value
    }
    assert table["报送单位"] == "司法局"
    assert [table[s.label] for s in Status] == [1, 0, 1, 1, 1, 0]  # todo..approved
    assert table["合计"] == 4
    assert table["已完成/总数"] == "2/4"
    assert table["完成率"] == 0.5
    assert (table["牵头项数"], table["配合项数"]) == (2, 2)
    assert (table["网上链接"], table["纸质"]) == (2, 1)
    assert table["纸质材料存放"] == (
        "纸质材料1件不随本次报送发送，由本单位整理成册备现场查验，存放于：档案室3号柜（1件）。"
    )


def test_empty_department_workbook():
    wb = load(department_workbook(CAMPAIGN, "财政局", [], GENERATED))
    assert wb["资料目录"].max_row == 5
    assert wb["资料目录"]["A5"].value == "本单位尚未报送任何材料。"
    summary = wb["汇总"]
    labels = [summary.cell(row=r, column=1).value for r in range(1, summary.max_row + 1)]
    row = labels.index("已完成/总数") + 1
    assert summary.cell(row=row, column=2).value == "0/0"


# --- district workbook ------------------------------------------------------------------------

LONG = "金凤区[测试]:部门/?*\\一二三四五六七八九十一二三四五六七八九十一二三"
DEPARTMENTS = ["司法局", "行政审批局", LONG]
ASSIGNMENTS = {
    **{(i, "司法局"): a for i, a in JUSTICE.items()},
    (2, "行政审批局"): Assignment(2, "行政审批局", Role.LEAD, Status.IN_PROGRESS),
    (12, "行政审批局"): Assignment(12, "行政审批局", Role.LEAD, Status.APPROVED),
    (1, "未列出的单位"): Assignment(1, "未列出的单位", Role.COOPERATE, Status.DONE),
}


@pytest.fixture(scope="module")
def district_book() -> bytes:
    return district_workbook(CAMPAIGN, CATALOG, DEPARTMENTS, ASSIGNMENTS, GENERATED)


def test_district_sheets(district_book):
    wb = load(district_book)
    assert wb.sheetnames[:3] == ["总览", "司法局", "行政审批局"]
    assert len(wb.sheetnames) == 4
    last = wb.sheetnames[3]
    assert len(last) <= 31
    assert not set("[]:*?/\\") & set(last)
    assert last.startswith("金凤区_测试__部门")
    assert wb[last]["A2"].value.endswith("生成时间：2020-08-19 00:30")
    assert "报送单位：" + LONG in wb[last]["A2"].value
    assert wb[last]["A5"].value == "本单位尚未报送任何材料。" and wb[last].max_row == 5


def test_district_matrix(district_book):
    ws = load(district_book)["总览"]
    assert ws["A1"].value == "2020年金凤区法治政府建设示范创建完成情况总览"
    header = [ws.cell(row=4, column=c).value for c in range(1, 8)]
    assert header == ["部门", "已完成/总数", "完成率", 1, 2, 8, 12]
    justice = [ws.cell(row=5, column=c).value for c in range(1, 8)]
    assert justice == ["司法局", "2/4", 0.5, "已完成", "未开始", "已退回", "不涉及"]
    approval = [ws.cell(row=6, column=c).value for c in range(1, 8)]
    assert approval == ["行政审批局", "1/2", 0.5, None, "进行中", None, "已通过"]
    empty = [ws.cell(row=7, column=c).value for c in range(1, 8)]
    assert empty == [LONG, "0/0", 0, None, None, None, None]
    assert ws.max_row == 7  # departments not listed are left out
    assert ws.freeze_panes == "D5"
    assert "综合行政执法" in ws.cell(row=4, column=7).comment.text


def test_district_department_sheet_matches_department_workbook(district_book, dept_book):
    mine = load(dept_book)["资料目录"]
    theirs = load(district_book)["司法局"]
    assert theirs.max_row == mine.max_row == 9
    for r in range(1, 10):
        assert values(theirs, r) == values(mine, r)
    assert {str(r) for r in theirs.merged_cells.ranges} == {
        str(r) for r in mine.merged_cells.ranges
    }
    assert theirs["G5"].hyperlink.target == URL
    assert theirs["E7"].data_type == "s"


def test_sheet_names():
    assert sheet_name("司法局") == "司法局"
    assert sheet_name("a/b\\c?d*e[f]g:h") == "a_b_c_d_e_f_g_h"
    assert sheet_name("司法局", ["总览", "司法局"]) == "司法局(2)"
    assert sheet_name("司法局", ["司法局", "司法局(2)"]) == "司法局(3)"
    long = "长" * 40
    assert sheet_name(long) == "长" * 31
    assert sheet_name(long, ["长" * 31]) == "长" * 28 + "(2)"
    assert sheet_name("'quoted'") == "quoted"
    assert sheet_name("History") != "History"
    assert sheet_name("") == "部门"


def test_is_web_url():
    assert is_web_url(URL)
    assert is_web_url("HTTP://www.gov.cn/")
    for bad in ["javascript:alert(1)", "ftp://x/y", "www.gov.cn", "http://", "http://a b/", ""]:
        assert not is_web_url(bad), bad


# --- explanation document ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def document() -> docx.document.Document:
    return docx.Document(io.BytesIO(explanation_document(CAMPAIGN, "司法局", ROWS, GENERATED)))


def test_document_title_and_overview(document):
    texts = [p.text for p in document.paragraphs]
    assert texts[0] == "司法局关于2020年金凤区法治政府建设示范创建资料报送的说明"
    assert "银金法办发〔2020〕27号" in texts[1]
    assert "共承担4项指标（牵头2项、配合2项），已完成2项" in texts[1]
    assert "共报送网上链接2条。纸质材料1件不随本次报送发送" in texts[1]
    assert "存放于：档案室3号柜（1件）" in texts[1]
    assert texts[-2:] == ["司法局", "2020年8月19日"]
    # the closing summary of what is still open, before the signature
    assert texts[-5:-3] == [
        "未完成事项",
        "本单位承担的4项指标中，仍有2项未完成：第2、8项；其中第2项尚未报送材料。",
    ]


def test_document_sections_in_indicator_order(document):
    texts = [p.text for p in document.paragraphs]
    headings = [t for t in texts if t.startswith("第") and "项（" in t]
    # item 2 has nothing yet: no section, no placeholder (the closing summary names it)
    assert [h.split("项")[0] for h in headings] == ["第1", "第8", "第12"]
    assert headings[0] == "第1项（牵头）行政审批制度改革全面推行"
    assert not any("第2项（" in t or "尚未填写" in t or "暂无材料" in t for t in texts)

    def section(n):
        start = texts.index(headings[n])
        end = texts.index(headings[n + 1]) if n + 1 < len(headings) else texts.index("未完成事项")
        return texts[start + 1 : end]

    # the requirement in full, never cut with 「…」
    assert section(0) == [
        f"指标要求：{INDICATORS[1].level3}",
        "完成情况：已完成",
        "已在区政府网站公开。",
        "清单随机构改革动态调整。",
        "报送材料：",
        f"（1）行政审批事项清单：{URL}",
        "（2）2019年压缩办理时限情况说明：纸质材料，存放于档案室3号柜",
    ]
    assert not any("…" in t for t in texts)
    assert section(1) == [
        f"指标要求：{INDICATORS[8].level3}",
        "完成情况：已退回（链接无法打开）",
        "报送材料：",
        f"（1）{EVIL_TITLE}：javascript:alert(1)",
    ]
    assert section(2) == [
        f"指标要求：{INDICATORS[12].level3}",
        "完成情况：不涉及（本单位无此职能）",
    ]


def test_document_links_only_for_http(document):
    links = [
        rel.target_ref
        for rel in document.part.rels.values()
        if rel.reltype == RELATIONSHIP_TYPE.HYPERLINK
    ]
    assert links == [URL]
    linked = [p for p in document.paragraphs if p.hyperlinks]
    assert [h.address for p in linked for h in p.hyperlinks] == [URL]


def test_document_uses_a4_and_chinese_fonts(document):
    section = document.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    run = document.paragraphs[0].runs[0]
    fonts = run._element.rPr.rFonts
    assert fonts.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia")


@pytest.mark.parametrize(
    ("actor", "label"),
    [("web:admin", "管理后台"), ("api:token", "接口"), ("system:linkcheck", "系统"),
     ("dingtalk:staff001", "staff001"),
     ("张三", "张三"), ("", "")],
)  # fmt: skip
def test_an_actor_without_a_name_reads_as_who_it_is(actor, label):
    assert actor_label(actor) == label


# --- 涉密, ★, bonus and deduction items, and what a 报送 says (issue 12) ----------------------

SECRET_IND = Indicator(
    id=77,
    level1="行政权力制约监督科学有效",
    level2="全面推进政务公开。",
    level3="政府新闻发言人、突发事件信息发布等制度完善。",
    evidence="网络舆情处置工作方案。(涉密)",
    evidence_from=None,
    lead=("司法局",),
    cooperate=(),
    star=False,
    kind="regular",
)
SECRET_TITLE = "2020年舆情应对内部预案"
SECRET_URL = "https://intranet.example.cn/yuqing.docx"  # old data: a link stored before the rule
SECRET_WORDS = "预案第三章规定了处置流程"
MARKED_TITLE = "执法人员名册"  # a material the department marked 涉密 on an ordinary item


def extra_ind(id: int, kind: str, level3: str) -> Indicator:
    return Indicator(id, "附加项", "减分项。" if kind == "deduction" else "加分项。", level3,
                     "", None, ("司法局",), (), False, kind)  # fmt: skip


DEDUCT_98 = extra_ind(98, "deduction", "发生严重违法行政行为的。")
DEDUCT_99 = extra_ind(99, "deduction", "在申报材料中，故意编造、虚构有关数据的。")
BONUS_96 = extra_ind(96, "bonus", "法治政府建设有关工作获得省部级以上表彰、奖励的。")

NOTICE_ROWS = [
    CatalogRow(
        SECRET_IND,
        Assignment(
            77,
            "司法局",
            Role.LEAD,
            Status.APPROVED,
            explanation=SECRET_WORDS,
            materials=(
                Material(SECRET_TITLE, "", "张三", "2020-08-14T02:30:00Z", "机要室"),
                Material("预案全文", SECRET_URL, "张三", "2020-08-14T02:31:00Z"),
            ),
        ),
    ),  # fmt: skip
    CatalogRow(
        INDICATORS[1],
        Assignment(
            1,
            "司法局",
            Role.LEAD,
            Status.RETURNED,
            reason="缺少2019年台账",
            rectification="已补充2019年以来的清单调整记录",
            materials=(
                Material(MARKED_TITLE, "", "张三", "", "机要室", secret=True),
                Material("清单", URL, "张三", ""),
            ),
        ),
        starred=True,
    ),  # fmt: skip
    CatalogRow(INDICATORS[2], Assignment(2, "司法局", Role.COOPERATE, Status.TODO)),
    CatalogRow(BONUS_96, Assignment(96, "司法局", Role.LEAD, Status.TODO)),
    CatalogRow(
        DEDUCT_98,
        Assignment(
            98, "司法局", Role.LEAD, Status.DONE, explanation="本单位无发生严重违法行政行为的情形。"
        ),
    ),  # fmt: skip
    CatalogRow(DEDUCT_99, Assignment(99, "司法局", Role.LEAD, Status.TODO)),
]
SENDER = Sender("张三", dt.datetime(2020, 8, 18, 2, 0, tzinfo=dt.UTC))


def every_text(data: bytes) -> str:
    """Everything a file holds, as text: the xml of every part, character references resolved
    (openpyxl writes 涉 as &#28041;)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return html.unescape("".join(z.read(n).decode("utf-8", "replace") for n in z.namelist()))


@pytest.mark.parametrize("sender", [None, SENDER], ids=["export", "submission"])
def test_nothing_secret_leaves_in_any_file(sender):
    book = department_workbook(CAMPAIGN, "司法局", NOTICE_ROWS, GENERATED, sender=sender)
    doc = explanation_document(CAMPAIGN, "司法局", NOTICE_ROWS, GENERATED, sender=sender)
    catalog = Catalog(CAMPAIGN, {r.indicator.id: r.indicator for r in NOTICE_ROWS})
    district = district_workbook(
        CAMPAIGN, catalog, ["司法局"],
        {(r.indicator.id, "司法局"): r.assignment for r in NOTICE_ROWS}, GENERATED,
    )  # fmt: skip
    for data in (book, doc, district):
        text = every_text(data)
        for secret in (SECRET_TITLE, SECRET_URL, SECRET_WORDS, MARKED_TITLE):
            assert secret not in text
        assert "涉密材料，现场查阅" in text and "机要室" in text
    ws = load(book)["资料目录"]
    rows = [values(ws, r) for r in range(5, ws.max_row + 1)]
    secret_rows = [r[4:7] for r in rows if r[4] == "涉密材料，现场查阅"]
    assert secret_rows == [
        ["涉密材料，现场查阅", "纸质（涉密）", "机要室"],
        ["涉密材料，现场查阅", "纸质（涉密）", "机要室"],
        ["涉密材料，现场查阅", "纸质（涉密）", None],  # the old link: no address, not clickable
    ]
    detail = load(book)["明细"]
    rows = [values(detail, r, 10) for r in range(4, detail.max_row + 1)]
    assert [r[6] for r in rows if r[0] == 77] == ["涉密，现场查阅"] * 2
    for sheet in ws, detail:
        linked = [c.hyperlink.target for row in sheet.iter_rows() for c in row if c.hyperlink]
        assert linked == [URL]


def test_star_rectification_shows_in_both_files():
    ws = load(department_workbook(CAMPAIGN, "司法局", NOTICE_ROWS, GENERATED))["资料目录"]
    remarks = {values(ws, r)[0]: values(ws, r)[7] for r in range(5, ws.max_row + 1)}
    assert remarks[1] == "牵头；★需进一步加强整改；整改说明：已补充2019年以来的清单调整记录"
    assert remarks[77] == "牵头；考评要点注明涉密：纸质材料现场查阅"
    assert 2 not in remarks and 96 not in remarks  # nothing worked on: not in the catalogue
    doc = docx.Document(
        io.BytesIO(explanation_document(CAMPAIGN, "司法局", NOTICE_ROWS, GENERATED))
    )
    texts = [p.text for p in doc.paragraphs]
    assert "备注：★需进一步加强整改。整改说明：已补充2019年以来的清单调整记录" in texts


def test_a_submission_says_what_the_department_says_and_who_sent_it():
    book = load(department_workbook(CAMPAIGN, "司法局", NOTICE_ROWS, GENERATED, sender=SENDER))
    ws = book["明细"]
    states = {values(ws, r, 10)[7] for r in range(4, ws.max_row + 1)}
    assert states == {"已完成", "进行中", "未开始"}  # no 已通过 / 已退回: those are the office's
    summary = {r[0]: r[1] for r in book["汇总"].iter_rows(min_row=3, values_only=True) if r[0]}
    assert summary["报送人"] == "张三" and summary["报送时间"] == "2020-08-18 10:00"
    assert summary["真实性承诺"].startswith("本单位承诺：所报送的资料目录")
    assert summary["合计"] == 3  # bonus and deduction items are not chores
    doc = explanation_document(CAMPAIGN, "司法局", NOTICE_ROWS, GENERATED, sender=SENDER)
    texts = [p.text for p in docx.Document(io.BytesIO(doc)).paragraphs]
    joined = "\n".join(texts)
    for internal in ("完成情况", "已通过", "已退回", "（尚未填写说明）", "（暂无材料）", "…"):
        assert internal not in joined
    assert "本单位承担的3项指标中，仍有2项未完成：第1、2项；其中第2项尚未报送材料。" in texts
    headings = [t.split("（")[0] for t in texts if t.startswith("第") and "项（" in t]
    assert headings == ["第1项", "第77项"]  # the bonus item has nothing: not listed
    assert "减分项声明" in texts and "第98项：本单位无发生严重违法行政行为的情形。" in texts
    assert not any(t.startswith("第99项") for t in texts)  # answered by the statement below
    assert texts[-5].startswith("本单位承诺：所报送的资料目录、网址链接及报送材料说明真实、准确")
    assert texts[-4] == "报送人：张三（司法局）　报送时间：2020-08-18 10:00"
    assert (
        "纸质材料2件不随本次报送发送，由本单位整理成册备现场查验，存放于：机要室（2件）。"
        in texts[1]
    )


# --- a link without a name (issue 16 item 5) --------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://www.jinfeng.gov.cn/sfj/zfgs.html?id=3#top", "www.jinfeng.gov.cn/sfj/zfgs.html"),
        ("http://WWW.Gov.CN/", "www.gov.cn"),
        ("https://www.gov.cn/%E5%85%AC%E5%BC%80/", "www.gov.cn/公开"),
        ("not a url", "not a url"),
    ],
)
def test_a_nameless_link_is_named_by_its_host_and_path(url, name):
    assert link_name(url) == name
    assert Material("", url).name == name
    assert Material("执法公示", url).name == "执法公示"


def test_a_nameless_link_has_the_same_name_in_both_files():
    url = "https://www.jinfeng.gov.cn/sfj/=sum.html?x=1"
    a = Assignment(
        12, "司法局", Role.LEAD, Status.IN_PROGRESS, materials=(Material("", url, "张三", ""),)
    )
    rows = [CatalogRow(INDICATORS[12], a)]
    ws = load(department_workbook(CAMPAIGN, "司法局", rows, GENERATED))["资料目录"]
    assert values(ws, 5)[4:7] == ["www.jinfeng.gov.cn/sfj/=sum.html", "网上链接", url]
    assert ws["E5"].data_type == "s"  # "=" inside, never a formula
    doc = docx.Document(io.BytesIO(explanation_document(CAMPAIGN, "司法局", rows, GENERATED)))
    texts = [p.text for p in doc.paragraphs]
    assert f"（1）www.jinfeng.gov.cn/sfj/=sum.html：{url}" in texts


def test_a_stored_file_is_listed_in_both_files_with_its_type_and_where_it_is_kept():
    from bot.filestore import StoredFile

    sha = "ab" + "0" * 62
    f = StoredFile(sha, 356 * 1024, "2019年执法案卷评查报告.pdf", "pdf")
    photo = StoredFile("cd" + "1" * 62, 3 * 1024 * 1024, "现场照片.jpg", "jpeg")
    kept = (
        Material(f.name, "", "张三", "", f"files/ab/{sha}", file=f),
        Material(photo.name, "", "张三", "", f"files/cd/{photo.sha256}", file=photo),
    )
    a = Assignment(12, "司法局", Role.LEAD, Status.IN_PROGRESS, materials=kept)
    rows = [CatalogRow(INDICATORS[12], a)]
    ws = load(department_workbook(CAMPAIGN, "司法局", rows, GENERATED))["资料目录"]
    assert values(ws, 5)[4:7] == [f.name, "PDF 文件", f"系统存档：files/ab/{sha}"]
    assert values(ws, 6)[4:7] == [photo.name, "JPG 图片", f"系统存档：files/cd/{photo.sha256}"]
    doc = docx.Document(io.BytesIO(explanation_document(CAMPAIGN, "司法局", rows, GENERATED)))
    texts = [p.text for p in doc.paragraphs]
    assert f"（1）{f.name}：PDF 文件（356 KB），系统存档：files/ab/{sha}" in texts
    assert f"（2）{photo.name}：JPG 图片（3.0 MB），系统存档：files/cd/{photo.sha256}" in texts
    # counted as files, not as paper to be kept for the inspection
    assert "共报送网上链接0条、电子文件2个（督办系统存档）。本次未登记纸质材料。" in texts[1]


def test_the_binder_says_where_an_uploaded_file_is_and_counts_it_apart_from_paper():
    from bot.binder import binder_blocks
    from bot.filestore import StoredFile

    f = StoredFile("ef" + "2" * 62, 2048, "执法照片.jpg", "jpeg")
    kept = (
        Material("台账", "", "张三", "", "档案室3号柜"),
        Material(f.name, "", "张三", "", f"files/ef/{f.sha256}", file=f),
    )
    a = Assignment(12, "司法局", Role.LEAD, Status.DONE, materials=kept)
    blocks = binder_blocks(
        CAMPAIGN, "司法局", [CatalogRow(INDICATORS[12], a)], GENERATED, "Asia/Shanghai"
    )
    cover = next(b.text for b in blocks if b.kind == "para" and "本汇编" in b.text)
    assert "纸质材料1件" in cover and "电子文件1个（系统存档）" in cover
    [table] = [b for b in blocks if b.kind == "table"]
    assert table.rows[1][1:4] == (f.name, "JPG 图片", f"电子文件，系统存档：files/ef/{f.sha256}")
    assert table.rows[1][4] == ""  # no QR code for a stored file

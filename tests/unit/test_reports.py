import datetime as dt
import io
import zipfile

import docx
import openpyxl
import pytest
from docx.opc.constants import RELATIONSHIP_TYPE

from bot.catalog import Campaign, Catalog, Deadline, Indicator
from bot.progress import Assignment, Material, Role, Status
from bot.reports import (
    COLUMNS,
    CatalogRow,
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
            Material("2019年压缩办理时限情况说明", "", "李四", "2020-08-15T09:05:00+00:00"),
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


def values(ws, row: int) -> list:
    return [ws.cell(row=row, column=c).value for c in range(1, len(COLUMNS) + 1)]


@pytest.fixture(scope="module")
def dept_book() -> bytes:
    return department_workbook(CAMPAIGN, "司法局", ROWS, GENERATED)


# --- department workbook ----------------------------------------------------------------------


def test_department_workbook_header(dept_book):
    wb = load(dept_book)
    assert wb.sheetnames == ["资料目录", "汇总"]
    ws = wb["资料目录"]
    assert ws["A1"].value == "2020年金凤区法治政府建设示范创建资料目录"
    assert "银金法办发〔2020〕27号" in ws["A2"].value
    assert "报送单位：司法局" in ws["A2"].value
    assert "2020-08-19 00:30" in ws["A2"].value
    assert values(ws, 3) == [
        "序号",
        "一级指标",
        "二级指标",
        "三级指标",
        "考评要点",
        "牵头/配合",
        "材料名称",
        "类型",
        "网址",
        "报送说明",
        "状态",
        "提交人",
        "时间",
    ]
    assert ws.freeze_panes == "A4"
    assert ws.column_dimensions["D"].width >= 30
    assert ws["D4"].alignment.wrap_text


def test_one_row_per_material_in_indicator_order(dept_book):
    ws = load(dept_book)["资料目录"]
    ind1 = INDICATORS[1]
    explanation = "已在区政府网站公开。\n清单随机构改革动态调整。"
    common1 = [1, ind1.level1, ind1.level2, ind1.level3, "第1项的考评要点", "牵头"]
    assert values(ws, 4) == common1 + [
        "行政审批事项清单",
        "网上链接",
        URL,
        explanation,
        "已完成",
        "张三",
        "2020-08-14 10:30",
    ]
    assert values(ws, 5) == common1 + [
        "2019年压缩办理时限情况说明",
        "纸质",
        None,
        explanation,
        "已完成",
        "李四",
        "2020-08-15 17:05",
    ]
    # an assignment without material still gets its row
    assert values(ws, 6)[:1] + values(ws, 6)[5:] == [
        2,
        "配合",
        None,
        None,
        None,
        None,
        "未开始",
    ] + [
        None,
        None,
    ]
    assert values(ws, 7)[0] == 8
    assert values(ws, 7)[10] == "已退回（链接无法打开）"
    assert values(ws, 8)[0] == 12
    assert values(ws, 8)[10:] == ["不涉及（本单位无此职能）", "张三", "2020-08-16 16:00"]
    assert ws.max_row == 8


def test_only_http_urls_are_clickable(dept_book):
    ws = load(dept_book)["资料目录"]
    assert ws["I4"].hyperlink is not None
    assert ws["I4"].hyperlink.target == URL
    assert ws["I5"].hyperlink is None  # paper
    assert ws["I7"].value == "javascript:alert(1)"
    assert ws["I7"].hyperlink is None
    linked = [c.coordinate for row in ws.iter_rows() for c in row if c.hyperlink is not None]
    assert linked == ["I4"]


def test_user_text_is_never_a_formula(dept_book):
    ws = load(dept_book)["资料目录"]
    assert ws["G7"].value == EVIL_TITLE
    assert ws["G7"].data_type == "s"
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


def test_empty_department_workbook():
    wb = load(department_workbook(CAMPAIGN, "财政局", [], GENERATED))
    assert wb["资料目录"].max_row == 3
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
    assert wb[last].max_row == 3


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
    assert theirs.max_row == mine.max_row == 8
    for r in range(1, 9):
        assert values(theirs, r) == values(mine, r)
    assert theirs["I4"].hyperlink.target == URL
    assert theirs["G7"].data_type == "s"


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
    assert "网上链接2条、纸质材料1件" in texts[1]
    assert texts[-2:] == ["司法局", "2020年8月19日"]


def test_document_sections_in_indicator_order(document):
    texts = [p.text for p in document.paragraphs]
    headings = [t for t in texts if t.startswith("第") and "项（" in t]
    assert [h.split("项")[0] for h in headings] == ["第1", "第2", "第8", "第12"]
    first = headings[0]
    assert first.startswith("第1项（牵头）向社会公布本级政府全部行政审批事项清单")
    assert first.endswith("…") and len(first) < 60
    assert headings[1] == "第2项（配合）全面清理规范行政审批中介服务事项"

    def section(n):
        start = texts.index(headings[n])
        end = texts.index(headings[n + 1]) if n + 1 < len(headings) else len(texts) - 3
        return texts[start + 1 : end]

    assert section(0) == [
        "完成情况：已完成",
        "已在区政府网站公开。",
        "清单随机构改革动态调整。",
        "报送材料：",
        f"（1）行政审批事项清单：{URL}",
        "（2）2019年压缩办理时限情况说明：纸质材料，已整理成册备查",
    ]
    assert section(1) == ["完成情况：未开始", "（尚未填写说明）", "报送材料：（暂无材料）"]
    assert section(2) == [
        "完成情况：已退回（链接无法打开）",
        "（尚未填写说明）",
        "报送材料：",
        f"（1）{EVIL_TITLE}：javascript:alert(1)",
    ]
    assert section(3)[0] == "完成情况：不涉及（本单位无此职能）"


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
    [("web:admin", "管理后台"), ("system:linkcheck", "系统"), ("dingtalk:staff001", "staff001"),
     ("张三", "张三"), ("", "")],
)  # fmt: skip
def test_an_actor_without_a_name_reads_as_who_it_is(actor, label):
    assert actor_label(actor) == label

"""bot/inspection.py without Redis or the web: which items an inspection covers, the progress,
the district's problems by department and by indicator, and the findings report's rows."""

from __future__ import annotations

import datetime as dt

import pytest

from bot import inspection
from bot.binder import Pictures
from bot.errors import UserError
from bot.filestore import StoredFile
from bot.progress import Assignment, Material, Role

NOW = dt.datetime(2020, 9, 10, 2, 0, tzinfo=dt.UTC)


def photo(n: int) -> inspection.Photo:
    return inspection.Photo(StoredFile(f"{n:064x}", 10, f"{n}.jpg", "jpeg"), f"{n + 100:064x}")


def assignments(catalog, dept: str, ids) -> dict[int, Assignment]:
    return {i: Assignment(i, dept, Role.LEAD) for i in ids}


def test_items_leave_out_the_deduction_declarations(catalog):
    deduction = [i for i, ind in catalog.indicators.items() if ind.kind == "deduction"]
    ids = [1, 2, *deduction]
    got = inspection.items_of(catalog, assignments(catalog, "司法局", ids), {})
    assert [i.id for i in got] == [1, 2]
    assert all(i.mark == inspection.Mark() and i.mark.label == "未查验" for i in got)


def test_progress_counts_checked_and_problems(catalog):
    marks = {
        1: inspection.Mark("ok"),
        2: inspection.Mark("problem", "缺页"),
        3: inspection.Mark("", "只写了备注"),  # a note alone is not a judgement
    }
    p = inspection.progress(
        inspection.items_of(catalog, assignments(catalog, "d", [1, 2, 3, 4]), marks)
    )
    assert (p.total, p.ok, p.problems, p.checked, p.left) == (4, 1, 1, 2, 2)
    assert p.text == "查验 2/4，有问题 1"


def test_a_mark_round_trips_with_its_photos():
    m = inspection.Mark(
        "problem", "第3卷\n缺页", (photo(1), photo(2)), "web:admin", "2020-09-10T02:00:00.000Z"
    )
    assert inspection.Mark.from_dict(m.to_dict()) == m
    assert inspection.Mark.from_dict(None) == inspection.Mark()


def test_district_problems_by_department_and_by_indicator(catalog):
    both = {}
    for d in ("司法局", "教育局", "民政局"):
        both.update({(i, d): a for i, a in assignments(catalog, d, [1, 2, 3]).items()})
    marks = {
        "教育局": {2: inspection.Mark("problem", "目录与实物不符"), 1: inspection.Mark("ok")},
        "司法局": {2: inspection.Mark("problem"), 3: inspection.Mark("problem")},
    }
    found = inspection.district(catalog, ["司法局", "教育局", "民政局", "无任务局"], both, marks)
    assert [f.department for f in found] == ["司法局", "教育局", "民政局"]  # the given order
    assert [[i.id for i in f.problems] for f in found] == [[2, 3], [2], []]
    assert inspection.by_indicator(found) == [(2, ["司法局", "教育局"]), (3, ["司法局"])]
    blocks = inspection.summary_blocks(catalog.campaign, found, NOW, "Asia/Shanghai")
    assert "3个单位共9项，已查验4项，发现问题3项（涉及2个单位）。" in [b.text for b in blocks]
    progress_table = next(b for b in blocks if b.kind == "table")
    assert progress_table.rows[0] == ("司法局", "2/3", "2", "1", "第2项、第3项")
    details = [b for b in blocks if b.kind == "table"][-1]
    assert details.header == ("单位", "指标", "问题说明")
    assert details.rows == (
        ("司法局", "第2项", inspection.NO_NOTE),
        ("司法局", "第3项", inspection.NO_NOTE),
        ("教育局", "第2项", "目录与实物不符"),
    )


def test_findings_rows_print_photos_and_say_a_missing_one(catalog):
    a = assignments(catalog, "司法局", [1, 2, 3])
    a[1] = Assignment(
        1, "司法局", Role.LEAD,
        materials=(Material("执法台账", "", location="第2卷"), Material("", "https://x.gov.cn/a")),
    )  # fmt: skip
    marks = {
        1: inspection.Mark(
            "problem", "", (photo(1), photo(2)), "web:inspector", "2020-09-10T02:00:00.000Z"
        ),
        2: inspection.Mark("problem", "缺页", (photo(3),)),
        3: inspection.Mark("ok", "齐全"),
    }
    items = inspection.items_of(catalog, a, marks)
    stored = {photo(1).shown: b"one", photo(2).shown: b"two"}  # photo 3 is lost
    blocks = inspection.findings_blocks(
        catalog.campaign, "司法局", items, NOW, "Asia/Shanghai",
        who=lambda actor: "查验人员", photo=stored.get,
    )  # fmt: skip
    problems = next(b for b in blocks if b.kind == "table")
    first, second = problems.rows
    assert "执法台账（第2卷）；x.gov.cn/a（网上）" in first[1]
    assert first[2] == inspection.NO_NOTE
    assert first[3] == Pictures((b"one", b"two"))
    assert first[4] == "查验人员 09-10 10:00"
    assert (second[2], second[3]) == ("缺页", "1张（文件缺失）")
    assert "本单位共3项指标需查验，已查验3项，其中发现问题2项，已全部查验。" in [
        b.text for b in blocks
    ]


def test_a_note_is_kept_as_typed_up_to_its_limit():
    assert inspection.check_note("\r\n  缺页\r\n第2行  \r\n") == "\n  缺页\n第2行  \n"
    with pytest.raises(UserError, match="备注最多 1000 个字"):
        inspection.check_note("字" * 1001)

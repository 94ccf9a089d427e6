"""导出 and 报送 end to end: chat command -> RQ job -> stored file -> link in the outbox; the
files opened with openpyxl / python-docx and checked cell by cell against the store's state."""

from __future__ import annotations

import email
import email.policy
import io
import json
import re
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import docx
import openpyxl
import pytest

from bot.linkcheck import fill_titles
from bot.progress import Role, Status
from bot.reports import INTERNAL_COLUMNS
from tests.e2e.background import PUBLIC, bind, notices, say, work
from tests.stubs.smtp_server import SmtpStub

SH = ZoneInfo("Asia/Shanghai")
DEPT = "司法局"
URL_A = "https://www.jinfeng.gov.cn/sfj/zfgs.html"
URL_B = "https://www.jinfeng.gov.cn/sfj/=sum.html"


def tokens_in(text: str) -> list[str]:
    return re.findall(re.escape(PUBLIC) + r"/exports/([A-Za-z0-9_-]+)", text)


def when(iso: str) -> str:
    if not iso:
        return ""
    return (
        datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(SH).strftime("%Y-%m-%d %H:%M")
    )


def status_text(a, submitted: bool = False) -> str:
    if a.reason and a.status in (Status.RETURNED, Status.NOT_APPLICABLE):
        if submitted and a.status is Status.RETURNED:
            return "进行中"  # the office's review is not the department's to report
        return f"{a.status.label}（{a.reason}）"
    if submitted:
        return {Status.APPROVED: "已完成"}.get(a.status, a.status.label)
    return a.status.label


KIND = {"bonus": "加分项", "deduction": "减分项"}
REMARK = {
    77: "考评要点注明涉密：纸质材料现场查阅",
    78: "考评要点注明涉密：纸质材料现场查阅",
    96: "加分项（自愿申报）",
    97: "加分项（自愿申报）",
}


def name_of(m) -> str:
    """A material's name as every place shows it: its own, else a link's host and path."""
    if m.title:
        return m.title
    parts = urlsplit(m.url)
    return parts.hostname + parts.path.rstrip("/")


def worked_on(a) -> bool:
    return bool(
        a.materials or a.explanation or a.rectification or a.status is Status.NOT_APPLICABLE
    )


def expected_detail(rt, assignments, submitted: bool = False) -> list[list]:
    """The second sheet (明细): every assignment, one row per material, with the internals."""
    rows = []
    for ind_id in sorted(assignments):
        a, ind = assignments[ind_id], rt.catalog.indicators[ind_id]
        head = [ind.id, ind.level2, KIND.get(ind.kind, a.role.label)]
        state = status_text(a, submitted)
        for m in a.materials or (None,):
            if m is None:
                # the last change's author by name: 张三 is bound, the office's "admin" is not
                who = {"console:sfj1": "张三", "console:admin": "admin"}.get(a.updated_by, "")
                rows.append(head + ["", "", "", a.explanation, state, who, when(a.updated_at)])
            else:
                place = m.url or m.location
                rows.append(
                    head + [name_of(m), m.kind_label, place, a.explanation, state, m.added_by]
                    + [when(m.added_at)]
                )  # fmt: skip
    return rows


def expected_catalogue(rt, assignments) -> list[list]:
    """The mailed sheet (资料目录): the items worked on, an indicator's cells written once over
    its material rows (the rows after the first read empty: merged)."""
    rows = []
    for ind_id in sorted(i for i, a in assignments.items() if worked_on(a)):
        a, ind = assignments[ind_id], rt.catalog.indicators[ind_id]
        part = KIND.get(ind.kind, a.role.label)
        remark = "；".join(x for x in (part, REMARK.get(ind_id, "")) if x)
        own = [ind.id, ind.level1, ind.level2, ind.level3]
        if not a.materials:
            said = "无单独材料，见报送材料说明"
            if a.status is Status.NOT_APPLICABLE:
                said = f"本单位不涉及（{a.reason}）"
            rows.append(own + [said, "", "", remark])
        for k, m in enumerate(a.materials):
            cells = [name_of(m), m.kind_label, m.url or m.location]
            rows.append(own + cells + [remark] if k == 0 else ["", "", "", ""] + cells + [""])
    return rows


def sheet_rows(ws, first: int = 4) -> list[list]:
    return [
        ["" if v is None else v for v in row]
        for row in ws.iter_rows(min_row=first, values_only=True)
    ]


@pytest.fixture
def sfj(rt):
    bind(rt, "sfj1", DEPT, name="张三")
    assert say(rt, "sfj1", f"提交 12 {URL_A} 执法公示专栏").startswith("已收到")
    assert say(rt, "sfj1", f"提交 12 {URL_B}").startswith("已收到")  # no name: title later
    assert "纸质材料" in say(rt, "sfj1", "纸质 12 2019年行政执法案卷")
    assert "说明" in say(rt, "sfj1", "说明 12 我局2019年以来开展双随机抽查36次。")
    assert "已标记完成" in say(rt, "sfj1", "完成 12")
    assert "不负责" not in say(rt, "sfj1", "说明 15 =已建立清单")
    assert "已退回" in say(rt, "admin", f"退回 15 {DEPT} 缺少2019年台账", admin=True)
    assert "已保存" in say(rt, "sfj1", "说明 11 我局已按要求建立制度。")  # a row without material
    return "sfj1"


def check_catalogue_sheet(rt, ws, assignments) -> None:
    """The sheet as mailed: the notice's layout, merged indicator cells, printable."""
    assert ws["A1"].value == f"{rt.catalog.campaign.name}资料目录"
    assert f"报送单位：{DEPT}" in ws["A2"].value
    assert [c.value for c in ws[3]] == ["序号", "指标", None, None, "报送材料", None, None, "备注"]
    assert [c.value for c in ws[4]][1:7] == [
        "一级指标", "二级指标", "三级指标", "材料名称", "类型", "网址或存放位置",
    ]  # fmt: skip
    want = expected_catalogue(rt, assignments)
    got = sheet_rows(ws, 5)
    regular = rt.catalog.regular_ids
    missing = [i for i, a in sorted(assignments.items()) if i in regular and not worked_on(a)]
    assert got[: len(want)] == want
    footer = got[len(want) :]
    if missing:
        numbers = "、".join(str(i) for i in missing)
        assert footer[0][0] == f"尚未报送材料的指标（{len(missing)}项）：第{numbers}项。"
    # every block of material rows is merged over the indicator's columns, none repeated
    merged = {str(r) for r in ws.merged_cells.ranges}
    row = 5
    for ind_id in sorted(i for i, a in assignments.items() if worked_on(a)):
        n = max(1, len(assignments[ind_id].materials))
        if n > 1:
            for col in "ABCDH":
                assert f"{col}{row}:{col}{row + n - 1}" in merged, (ind_id, col)
        row += n
    texts = [c.value for r in ws.iter_rows(min_row=5, max_col=4) for c in r if c.value]
    for ind_id in assignments:
        level3 = rt.catalog.indicators[ind_id].level3
        assert texts.count(level3) == (1 if worked_on(assignments[ind_id]) else 0), ind_id
    for r in ws.iter_rows(min_row=5):
        if r[6].value and str(r[6].value).startswith("http"):
            assert r[6].hyperlink.target == r[6].value
    assert ws.print_title_rows == "$3:$4" and ws.page_setup.orientation == "landscape"
    assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4 and ws.page_setup.fitToWidth == 1
    # the whole sheet prints, footer included, and nothing past it
    assert ws.print_area == f"'{ws.title}'!$A$1:$H${ws.max_row}"
    assert ws.cell(ws.max_row, 1).value


def check_department_workbook(rt, data: bytes, assignments, submitted: bool = False) -> None:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["资料目录", "明细", "汇总"]
    check_catalogue_sheet(rt, wb["资料目录"], assignments)
    detail = wb["明细"]
    assert [c.value for c in detail[3]] == [
        "序号", "二级指标", "牵头/配合", "材料名称", "类型", "网址或存放位置", "报送说明", "状态",
        "提交人", "时间",
    ]  # fmt: skip
    assert sheet_rows(detail) == expected_detail(rt, assignments, submitted)
    summary = {r[0]: r[1] for r in wb["汇总"].iter_rows(min_row=4, values_only=True) if r[0]}
    regular = {i: a for i, a in assignments.items() if i in rt.catalog.regular_ids}
    done = sum(1 for a in regular.values() if a.is_complete)
    assert summary["已完成/总数"] == f"{done}/{len(regular)}"
    if not submitted:
        assert summary["已退回"] == sum(1 for a in regular.values() if a.status is Status.RETURNED)
    else:
        assert "已退回" not in summary and summary["报送人"] == "张三"
    links = sum(1 for a in assignments.values() for m in a.materials if m.url)
    assert summary["网上链接"] == links
    weight = {
        i: (2 if a.role is Role.LEAD else 1) * (2 if rt.catalog.indicators[i].star else 1)
        for i, a in regular.items()
    }
    done_weight = sum(weight[i] for i, a in regular.items() if a.is_complete)
    assert summary["完成率"] == pytest.approx(done_weight / sum(weight.values()))


def check_document(rt, data: bytes, assignments, submitted: bool = False) -> None:
    d = docx.Document(io.BytesIO(data))
    text = [p.text for p in d.paragraphs]
    assert text[0] == f"{DEPT}关于{rt.catalog.campaign.name}资料报送的说明"
    for ind_id in sorted(assignments):
        if ind_id not in rt.catalog.regular_ids:
            continue
        a, ind = assignments[ind_id], rt.catalog.indicators[ind_id]
        heads = [
            i for i, t in enumerate(text) if t == f"第{ind_id}项（{a.role.label}）{ind.level2}"
        ]
        if not worked_on(a):
            assert heads == []  # nothing to say: not listed, no placeholder
            continue
        head = heads[0]
        assert text[head + 1] == f"指标要求：{ind.level3}"
        if submitted:
            assert not text[head + 2].startswith("完成情况")
        else:
            assert text[head + 2] == f"完成情况：{status_text(a)}"
        for line in a.explanation.splitlines():
            assert line in text[head + 2 :]
        for k, m in enumerate(a.materials, start=1):
            assert any(t.startswith(f"（{k}）{name_of(m)}：") for t in text[head:])
    for placeholder in ("尚未填写说明", "暂无材料", "纸质材料0件"):
        assert not any(placeholder in t for t in text)
    still = [i for i, a in sorted(assignments.items()) if i in rt.catalog.regular_ids
             and not a.is_complete]  # fmt: skip
    closing = text[text.index("未完成事项") + 1]
    assert f"仍有{len(still)}项未完成：第{'、'.join(map(str, still))}项" in closing
    targets = {r.target_ref for r in d.part.rels.values() if r.is_external}
    assert targets == {m.url for a in assignments.values() for m in a.materials if m.url}


def test_export_posts_links_to_files_that_match_the_state(rt, sfj):
    reply = say(rt, sfj, "导出")
    assert "稍后下载链接将发到本部门工作群" in reply  # said in a one-to-one chat
    work(rt)
    posted = [n for n in notices(rt) if n.department == DEPT and "资料目录已生成" in n.text]
    assert len(posted) == 1
    xlsx_token, docx_token = tokens_in(posted[0].text)
    assignments = rt.store.assignments.of_department(DEPT)
    name, data = rt.store.exports.get(xlsx_token)
    assert name.startswith(f"{DEPT}_资料目录_") and name.endswith(".xlsx")
    check_department_workbook(rt, data, assignments)
    name, data = rt.store.exports.get(docx_token)
    assert name.endswith(".docx")
    check_document(rt, data, assignments)
    listed = rt.store.exports.list(department=DEPT)
    assert {e["token"] for e in listed} == {xlsx_token, docx_token}
    assert all(e["expires_at"] for e in listed)
    assert rt.store.exports.list(department="民政局") == []
    assert rt.store.exports.get("not-a-token") is None


def test_district_export_for_the_office(rt, sfj):
    assert "仅限" in say(rt, sfj, "导出 全区")
    assert "全区资料目录汇总表" in say(rt, "admin", "导出 全区", admin=True)
    work(rt)
    posted = [n for n in notices(rt) if n.department == "" and "汇总表已生成" in n.text]
    assert len(posted) == 1
    name, data = rt.store.exports.get(tokens_in(posted[0].text)[0])
    wb = openpyxl.load_workbook(io.BytesIO(data))
    depts = [d for d in rt.org.departments if any(k[1] == d for k in rt.assignments)]
    assert wb.sheetnames[0] == "总览" and len(wb.sheetnames) == 1 + len(depts)
    ws = wb["总览"]
    ids = sorted(rt.catalog.indicators)
    assert [c.value for c in ws[4]] == ["部门", "已完成/总数", "完成率", *ids]
    statuses = rt.store.assignments.statuses()
    regular = rt.catalog.regular_ids  # the done/total of chores; bonus and deduction apart
    for i, dept in enumerate(depts):
        row = [c.value for c in ws[5 + i]]
        own = {ind: s for (ind, d), (_, s) in statuses.items() if d == dept}
        done = sum(1 for ind, s in own.items() if s.is_complete and ind in regular)
        assert row[:2] == [dept, f"{done}/{sum(1 for ind in own if ind in regular)}"]
        # 完成率 is weighted, as in the ranking: lead 2, cooperating 1, a ★ item doubled; bonus
        # and deduction items never count
        weight = {
            ind: (2 if role is Role.LEAD else 1) * (2 if rt.catalog.indicators[ind].star else 1)
            for (ind, d), (role, _) in statuses.items()
            if d == dept and ind in regular
        }
        weighted = sum(weight[i] for i, s in own.items() if s.is_complete and i in weight)
        assert row[2] == pytest.approx(weighted / sum(weight.values())), dept
        for col, ind in enumerate(ids, start=3):
            assert (row[col] or "") == (own[ind].label if ind in own else ""), (dept, ind)
    check_catalogue_sheet(rt, wb[DEPT], rt.store.assignments.of_department(DEPT))


def test_submission_freezes_numbered_versions_and_mails_them(rt, sfj, env):
    smtp = SmtpStub().start()
    try:
        rt.services.settings = env(DUBAN_SMTP_URL=smtp.url)
        audit_before = rt.store.audit.length()
        first = say(rt, sfj, "报送 确认")
        assert first.startswith(f"**已报送{DEPT}资料目录第 1 版**（2020-08-14 10:00）")
        assert "邮件发送至 jfqfzb@163.com" in first
        assert rt.store.audit.length() == audit_before + 1
        frozen = rt.store.assignments.of_department(DEPT)
        # a change after the first submission goes only into the second
        assert "不负责" not in say(rt, sfj, "纸质 15 2020年执法台账")
        second = say(rt, "sfj1", "提交目录 确认")
        assert "第 2 版" in second
        work(rt)
    finally:
        smtp.stop()
    office = [n.text for n in notices(rt) if n.department == "" and "已报送" in n.text]
    assert office[0].startswith(f"📮 {DEPT}已报送第1版资料目录（2020-08-14 10:00）")
    assert office[1].startswith(f"📮 {DEPT}已报送第2版资料目录")
    subs = rt.store.submissions.of_department(DEPT)
    assert [s["version"] for s in subs] == [1, 2]
    assert all(s["mail"] == "sent" and s["mailed_to"] == "jfqfzb@163.com" for s in subs)
    assert rt.store.submissions.latest()[DEPT]["version"] == 2
    # version 1's files show the frozen state, not the later paper material
    name, data = rt.store.exports.get(subs[0]["xlsx"])
    assert name == f"{DEPT}_资料目录_第1版.xlsx"
    check_department_workbook(rt, data, frozen, submitted=True)
    check_document(rt, rt.store.exports.get(subs[0]["docx"])[1], frozen, submitted=True)
    assert rt.store.submissions.get(DEPT, 1)["assignments"] == frozen
    later = rt.store.assignments.of_department(DEPT)
    check_department_workbook(rt, rt.store.exports.get(subs[1]["xlsx"])[1], later, submitted=True)
    # the department got the links once per version
    links = [n for n in notices(rt) if n.department == DEPT and "报送材料已定稿" in n.text]
    assert [tokens_in(n.text) for n in links] == [
        [subs[0]["xlsx"], subs[0]["docx"]],
        [subs[1]["xlsx"], subs[1]["docx"]],
    ]
    # the mails, with both files attached
    assert len(smtp.messages) == 2
    sender, rcpts, raw = smtp.messages[0]
    assert sender == "office@jinfeng.test" and rcpts == ["jfqfzb@163.com"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert "第1版" in str(msg["Subject"])
    files = {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}
    assert files == {
        f"{DEPT}_资料目录_第1版.xlsx": rt.store.exports.get(subs[0]["xlsx"])[1],
        f"{DEPT}_报送材料说明_第1版.docx": rt.store.exports.get(subs[0]["docx"])[1],
    }
    # the department is told once per version that the mail went out
    mailed = [n.text for n in notices(rt) if n.department == DEPT and "通过邮件发送至" in n.text]
    assert len(mailed) == 2 and "第1版报送材料已于" in mailed[0] and "jfqfzb@163.com" in mailed[0]
    # running the jobs again sends nothing twice
    rt.services.enqueue("bot.jobs.mail_submission", department=DEPT, version=1)
    rt.services.enqueue("bot.jobs.build_submission", department=DEPT, version=1)
    before = len(notices(rt))
    work(rt)
    assert len(smtp.messages) == 2 and len(notices(rt)) == before


def test_empty_catalogue_cannot_be_submitted(rt):
    bind(rt, "mz", "民政局")
    assert "资料目录还是空的" in say(rt, "mz", "报送")
    assert rt.store.submissions.of_department("民政局") == []


OUTLINE = (
    "一、总体情况\n（一）开展“双随机”抽查36次；\n（二）公示结果：全部公开。\n\n"
    "二、下一步\n　　继续推进，（三）按季度通报。"
)


def posted_files(rt, department: str, marker: str) -> list[tuple[str, bytes]]:
    posted = [n for n in notices(rt) if n.department == department and marker in n.text]
    assert len(posted) == 1, [n.text for n in notices(rt)]
    return [rt.store.exports.get(t) for t in tokens_in(posted[0].text)]


# The 报送说明 column of the second sheet (明细), where the internals are.
EXPLANATION = [name for name, _ in INTERNAL_COLUMNS].index("报送说明")


def test_an_outline_comes_back_line_for_line_in_both_files(rt):
    bind(rt, "sfj1", DEPT, name="张三")
    assert "已保存第12项的报送说明" in say(rt, "sfj1", f"说明 12 {OUTLINE}")
    assert rt.store.assignments.get(12, DEPT)[0].explanation == OUTLINE
    say(rt, "sfj1", "导出")
    work(rt)
    (_, xlsx), (_, docx_data) = posted_files(rt, DEPT, "资料目录已生成")
    ws = openpyxl.load_workbook(io.BytesIO(xlsx))["明细"]
    row = next(r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] == 12)
    assert row[EXPLANATION] == OUTLINE
    text = [p.text for p in docx.Document(io.BytesIO(docx_data)).paragraphs]
    head = next(i for i, t in enumerate(text) if t.startswith("第12项（"))
    lines = OUTLINE.split("\n")
    start = text.index(lines[0], head)  # after the requirement and, in a draft, the state
    assert start <= head + 3 and text[head + 2].startswith("完成情况")
    assert text[start : start + len(lines)] == lines
    assert text[start + len(lines)] == "未完成事项"  # no materials: no 报送材料 line


def test_one_departments_bad_old_data_breaks_no_export(rt):
    """Characters XML cannot hold, stored before input refused them, are left out of the files;
    every export that holds them is still built (the district one holds every department)."""
    bind(rt, "sfj1", DEPT, name="张三")
    say(rt, "sfj1", f"提交 12 {URL_A} 执法公示")
    _, raw = rt.store.assignments.get(12, DEPT)
    old = json.loads(raw)
    old["materials"][0]["title"] = "执法\uffff公示\x01专栏"
    old["explanation"] = "已公开\ufffe。"
    rt.redis.hset(rt.store.keys.dept(DEPT), "12", json.dumps(old, ensure_ascii=False))
    assert "\uffff" in rt.store.assignments.get(12, DEPT)[0].materials[0].title
    say(rt, "sfj1", "导出")
    say(rt, "admin", "导出 全区", admin=True)
    assert "第 1 版" in say(rt, "sfj1", "报送 确认")
    work(rt)
    xlsx, docx_data = (data for _, data in posted_files(rt, DEPT, "资料目录已生成"))
    [(_, district)] = posted_files(rt, "", "汇总表已生成")
    finals = [data for _, data in posted_files(rt, DEPT, "报送材料已定稿")]
    for data in (xlsx, district, finals[0]):
        wb = openpyxl.load_workbook(io.BytesIO(data))
        ws = wb["资料目录"] if "资料目录" in wb.sheetnames else wb[DEPT]
        row = next(r for r in ws.iter_rows(min_row=5, values_only=True) if r[0] == 12)
        assert row[4] == "执法公示专栏"
        if "明细" in wb.sheetnames:
            row = next(r for r in wb["明细"].iter_rows(min_row=4, values_only=True) if r[0] == 12)
            assert row[3] == "执法公示专栏" and row[EXPLANATION] == "已公开。"
    for data in (docx_data, finals[1]):
        text = "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
        assert "（1）执法公示专栏：" in text and "已公开。" in text


def test_submit_asks_first_while_items_are_open_and_says_who_mails(rt, sfj):
    """报送 with open items shows the completeness and changes nothing; 「报送 确认」 submits,
    and without mail configured the reply says plainly that the department must send it."""
    regular = [a for i, a in rt.store.assignments.of_department(DEPT).items()
               if i in rt.catalog.regular_ids]  # fmt: skip
    done = sum(1 for a in regular if a.is_complete)
    empty = sum(1 for a in regular if not (a.materials or a.explanation or a.is_complete))
    audit = rt.store.audit.length()
    asked = say(rt, sfj, "报送")
    assert asked.startswith(
        f"{DEPT}已完成 {done}/{len(regular)} 项，还有 {len(regular) - done} 项未完成"
        f"（其中 {empty} 项尚未提交材料），仍要报送吗？"
    )
    assert (
        "确认报送请回复「报送 确认」" in asked
        and "需由本部门自行将定稿发送至 jfqfzb@163.com" in asked
    )
    assert rt.store.audit.length() == audit and rt.store.submissions.of_department(DEPT) == []
    assert "命令后面多了「一下」" in say(rt, sfj, "报送 一下")
    assert rt.store.submissions.of_department(DEPT) == []
    sent = say(rt, sfj, "报送 确认")
    assert sent.startswith(f"**已报送{DEPT}资料目录第 1 版**")
    assert "本系统未配置邮件发送，邮件尚未发出" in sent and "自行发送至 jfqfzb@163.com" in sent
    assert [s["version"] for s in rt.store.submissions.of_department(DEPT)] == [1]


def test_a_nameless_link_has_one_name_in_chat_and_both_files(rt, sfj):
    """URL_B was submitted without a name: chat, the workbook and the document call it by its
    host and path; once the link check has fetched its page title, all three use the title,
    a version frozen before the check included."""
    host_path = "www.jinfeng.gov.cn/sfj/=sum.html"
    assert f"[{host_path}]({URL_B})" in say(rt, sfj, "查看 12")
    say(rt, sfj, "导出")
    work(rt)
    (_, xlsx), (_, doc) = posted_files(rt, DEPT, "资料目录已生成")
    names = [r[4] for r in openpyxl.load_workbook(io.BytesIO(xlsx))["资料目录"].iter_rows(
        min_row=5, values_only=True) if r[6] == URL_B]  # fmt: skip
    assert names == [host_path]
    text = [p.text for p in docx.Document(io.BytesIO(doc)).paragraphs]
    assert f"（2）{host_path}：{URL_B}" in text
    # frozen now, named later by the link check (its page title), built after that
    say(rt, sfj, "报送 确认")
    rt.store.links.record(URL_B, {"ok": True, "status": 200, "title": "汇总公示"})
    assert fill_titles(rt, {URL_B: "汇总公示"}) == 1
    assert f"[汇总公示]({URL_B})" in say(rt, sfj, "查看 12")
    frozen = rt.store.submissions.get(DEPT, 1)["assignments"][12]
    assert [m.title for m in frozen.materials if m.url == URL_B] == [""]
    work(rt)  # the version's files are built now
    sub = rt.store.submissions.of_department(DEPT)[0]
    ws = openpyxl.load_workbook(io.BytesIO(rt.store.exports.get(sub["xlsx"])[1]))["资料目录"]
    assert [r[4] for r in ws.iter_rows(min_row=5, values_only=True) if r[6] == URL_B] == [
        "汇总公示"
    ]
    text = [
        p.text for p in docx.Document(io.BytesIO(rt.store.exports.get(sub["docx"])[1])).paragraphs
    ]
    assert f"（2）汇总公示：{URL_B}" in text

"""导出 and 报送 end to end: chat command -> RQ job -> stored file -> link in the outbox; the
files opened with openpyxl / python-docx and checked cell by cell against the store's state."""

from __future__ import annotations

import email
import email.policy
import io
import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import docx
import openpyxl
import pytest

from bot.progress import Role, Status
from bot.reports import COLUMNS
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


def expected_rows(rt, assignments, submitted: bool = False) -> list[list]:
    rows = []
    for ind_id in sorted(assignments):
        a, ind = assignments[ind_id], rt.catalog.indicators[ind_id]
        role = KIND.get(ind.kind, a.role.label)
        common = [ind.id, ind.level1, ind.level2, ind.level3, ind.evidence, role]
        state = status_text(a, submitted)
        for m in a.materials or (None,):
            if m is None:
                # the last change's author by name: 张三 is bound, the office's "admin" is not
                who = {"console:sfj1": "张三", "console:admin": "admin"}.get(a.updated_by, "")
                tail = ["", "", "", "", a.explanation, state, who, when(a.updated_at)]
            else:
                tail = [m.title, m.kind_label, m.url, m.location, a.explanation, state]
                tail += [m.added_by, when(m.added_at)]
            rows.append(common + tail + [REMARK.get(ind_id, "")])
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


def check_department_workbook(rt, data: bytes, assignments, submitted: bool = False) -> None:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["资料目录", "汇总"]
    ws = wb["资料目录"]
    assert ws["A1"].value == f"{rt.catalog.campaign.name}资料目录"
    assert f"报送单位：{DEPT}" in ws["A2"].value
    assert [c.value for c in ws[3]] == [
        "序号", "一级指标", "二级指标", "三级指标", "考评要点", "牵头/配合", "材料名称",
        "类型", "网址", "存放位置", "报送说明", "状态", "提交人", "时间", "备注",
    ]  # fmt: skip
    got = sheet_rows(ws)
    want = expected_rows(rt, assignments, submitted)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"row {i + 4}"
    for row in ws.iter_rows(min_row=4):
        url = row[8].value
        if url:
            assert row[8].hyperlink.target == url
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
        if submitted and not (a.materials or a.explanation):
            assert heads == []  # nothing to say: not listed, no placeholder
            continue
        head = heads[0]
        assert text[head + 1] == f"指标要求：{ind.level3}"
        if submitted:
            assert not text[head + 2].startswith("完成情况")
        else:
            assert text[head + 2] == f"完成情况：{status_text(a)}"
        for line in a.explanation.splitlines() or ["（尚未填写说明）"]:
            assert line in text[head + 2 :]
    targets = {r.target_ref for r in d.part.rels.values() if r.is_external}
    assert targets == {m.url for a in assignments.values() for m in a.materials if m.url}


def test_export_posts_links_to_files_that_match_the_state(rt, sfj):
    reply = say(rt, sfj, "导出")
    assert "稍后下载链接将发到本部门工作群" in reply  # said in a one-to-one chat
    work(rt)
    posted = [n for n in notices(rt) if n.department == DEPT and "资料目录已生成" in n.text]
    assert len(posted) == 1
    xlsx_token, docx_token = tokens_in(posted[0].text)
    assignments = rt.store.department_assignments(DEPT)
    name, data = rt.store.get_export(xlsx_token)
    assert name.startswith(f"{DEPT}_资料目录_") and name.endswith(".xlsx")
    check_department_workbook(rt, data, assignments)
    name, data = rt.store.get_export(docx_token)
    assert name.endswith(".docx")
    check_document(rt, data, assignments)
    listed = rt.store.list_exports(department=DEPT)
    assert {e["token"] for e in listed} == {xlsx_token, docx_token}
    assert all(e["expires_at"] for e in listed)
    assert rt.store.list_exports(department="民政局") == []
    assert rt.store.get_export("not-a-token") is None


def test_district_export_for_the_office(rt, sfj):
    assert "仅限" in say(rt, sfj, "导出 全区")
    assert "全区资料目录汇总表" in say(rt, "admin", "导出 全区", admin=True)
    work(rt)
    posted = [n for n in notices(rt) if n.department == "" and "汇总表已生成" in n.text]
    assert len(posted) == 1
    name, data = rt.store.get_export(tokens_in(posted[0].text)[0])
    wb = openpyxl.load_workbook(io.BytesIO(data))
    depts = [d for d in rt.org.departments if any(k[1] == d for k in rt.assignments)]
    assert wb.sheetnames[0] == "总览" and len(wb.sheetnames) == 1 + len(depts)
    ws = wb["总览"]
    ids = sorted(rt.catalog.indicators)
    assert [c.value for c in ws[4]] == ["部门", "已完成/总数", "完成率", *ids]
    statuses = rt.store.statuses()
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
    check_department_workbook_sheet = wb[DEPT]
    got = sheet_rows(check_department_workbook_sheet)
    assert got == expected_rows(rt, rt.store.department_assignments(DEPT))


def test_submission_freezes_numbered_versions_and_mails_them(rt, sfj, env):
    smtp = SmtpStub().start()
    try:
        rt.services["settings"] = env(DUBAN_SMTP_URL=smtp.url)
        audit_before = rt.store.audit_len()
        first = say(rt, sfj, "报送")
        assert first.startswith(f"**已报送{DEPT}资料目录第 1 版**（2020-08-14 10:00）")
        assert "邮件发送至 jfqfzb@163.com" in first
        assert rt.store.audit_len() == audit_before + 1
        frozen = rt.store.department_assignments(DEPT)
        # a change after the first submission goes only into the second
        assert "不负责" not in say(rt, sfj, "纸质 15 2020年执法台账")
        second = say(rt, "sfj1", "提交目录")
        assert "第 2 版" in second
        work(rt)
    finally:
        smtp.stop()
    office = [n.text for n in notices(rt) if n.department == "" and "已报送" in n.text]
    assert office[0].startswith(f"📮 {DEPT}已报送第1版资料目录（2020-08-14 10:00）")
    assert office[1].startswith(f"📮 {DEPT}已报送第2版资料目录")
    subs = rt.store.submission_list(DEPT)
    assert [s["version"] for s in subs] == [1, 2]
    assert all(s["mail"] == "sent" and s["mailed_to"] == "jfqfzb@163.com" for s in subs)
    assert rt.store.latest_submissions()[DEPT]["version"] == 2
    # version 1's files show the frozen state, not the later paper material
    name, data = rt.store.get_export(subs[0]["xlsx"])
    assert name == f"{DEPT}_资料目录_第1版.xlsx"
    check_department_workbook(rt, data, frozen, submitted=True)
    check_document(rt, rt.store.get_export(subs[0]["docx"])[1], frozen, submitted=True)
    assert rt.store.submission(DEPT, 1)["assignments"] == frozen
    later = rt.store.department_assignments(DEPT)
    check_department_workbook(rt, rt.store.get_export(subs[1]["xlsx"])[1], later, submitted=True)
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
        f"{DEPT}_资料目录_第1版.xlsx": rt.store.get_export(subs[0]["xlsx"])[1],
        f"{DEPT}_报送材料说明_第1版.docx": rt.store.get_export(subs[0]["docx"])[1],
    }
    # running the jobs again sends nothing twice
    rt.services["enqueue"]("bot.jobs.mail_submission", department=DEPT, version=1)
    rt.services["enqueue"]("bot.jobs.build_submission", department=DEPT, version=1)
    before = len(notices(rt))
    work(rt)
    assert len(smtp.messages) == 2 and len(notices(rt)) == before


def test_empty_catalogue_cannot_be_submitted(rt):
    bind(rt, "mz", "民政局")
    assert "资料目录还是空的" in say(rt, "mz", "报送")
    assert rt.store.submission_list("民政局") == []


OUTLINE = (
    "一、总体情况\n（一）开展“双随机”抽查36次；\n（二）公示结果：全部公开。\n\n"
    "二、下一步\n　　继续推进，（三）按季度通报。"
)


def posted_files(rt, department: str, marker: str) -> list[tuple[str, bytes]]:
    posted = [n for n in notices(rt) if n.department == department and marker in n.text]
    assert len(posted) == 1, [n.text for n in notices(rt)]
    return [rt.store.get_export(t) for t in tokens_in(posted[0].text)]


# The 报送说明 column of a department's sheet (after 存放位置, which issue 12 added).
EXPLANATION = [name for name, _ in COLUMNS].index("报送说明")


def test_an_outline_comes_back_line_for_line_in_both_files(rt):
    bind(rt, "sfj1", DEPT, name="张三")
    assert "已保存第12项的报送说明" in say(rt, "sfj1", f"说明 12 {OUTLINE}")
    assert rt.store.assignment(12, DEPT)[0].explanation == OUTLINE
    say(rt, "sfj1", "导出")
    work(rt)
    (_, xlsx), (_, docx_data) = posted_files(rt, DEPT, "资料目录已生成")
    ws = openpyxl.load_workbook(io.BytesIO(xlsx))["资料目录"]
    row = next(r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] == 12)
    assert row[EXPLANATION] == OUTLINE
    text = [p.text for p in docx.Document(io.BytesIO(docx_data)).paragraphs]
    head = next(i for i, t in enumerate(text) if t.startswith("第12项（"))
    lines = OUTLINE.split("\n")
    start = text.index(lines[0], head)  # after the requirement and, in a draft, the state
    assert start <= head + 3 and text[head + 2].startswith("完成情况")
    assert text[start : start + len(lines)] == lines
    assert text[start + len(lines)].startswith("报送材料")


def test_one_departments_bad_old_data_breaks_no_export(rt):
    """Characters XML cannot hold, stored before input refused them, are left out of the files;
    every export that holds them is still built (the district one holds every department)."""
    bind(rt, "sfj1", DEPT, name="张三")
    say(rt, "sfj1", f"提交 12 {URL_A} 执法公示")
    _, raw = rt.store.assignment(12, DEPT)
    old = json.loads(raw)
    old["materials"][0]["title"] = "执法\uffff公示\x01专栏"
    old["explanation"] = "已公开\ufffe。"
    rt.redis.hset(rt.store.keys.dept(DEPT), "12", json.dumps(old, ensure_ascii=False))
    assert "\uffff" in rt.store.assignment(12, DEPT)[0].materials[0].title
    say(rt, "sfj1", "导出")
    say(rt, "admin", "导出 全区", admin=True)
    assert "第 1 版" in say(rt, "sfj1", "报送")
    work(rt)
    xlsx, docx_data = (data for _, data in posted_files(rt, DEPT, "资料目录已生成"))
    [(_, district)] = posted_files(rt, "", "汇总表已生成")
    finals = [data for _, data in posted_files(rt, DEPT, "报送材料已定稿")]
    for data in (xlsx, district, finals[0]):
        wb = openpyxl.load_workbook(io.BytesIO(data))
        ws = wb["资料目录"] if "资料目录" in wb.sheetnames else wb[DEPT]
        row = next(r for r in ws.iter_rows(min_row=4, values_only=True) if r[0] == 12)
        assert row[6] == "执法公示专栏" and row[EXPLANATION] == "已公开。"
    for data in (docx_data, finals[1]):
        text = "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
        assert "（1）执法公示专栏：" in text and "已公开。" in text

"""Files sent in chat (issue 15 item 2), on each platform with payloads as the platforms send
them (signed and encrypted for real), the downloads served by the stub platform server and run
by a real RQ worker: the bot replies 「收到文件「xx.pdf」，请回复指标编号（如 12）归入该项」, holds the
file for its sender, and the next bare number files it under that item, once, also when a
callback is redelivered; a refused file is told in the department's chat and never filed."""

from __future__ import annotations

import hashlib
import json

import pytest

from bot import chatfiles
from bot.config import Settings
from tests.e2e.background import notices, work
from tests.http import callbacks as cb
from tests.http.test_hooks_wecom import decrypt_reply as smartbot_reply
from tests.http.test_hooks_wecom_app import decrypt_reply as app_reply

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
DEPT = "司法局"


@pytest.fixture
def file_max_mb() -> str:
    return "20"


@pytest.fixture
def hook_settings(hook_settings, monkeypatch, tmp_path, file_max_mb):
    """The hooks' settings, with the file store in this test's directory and the WeCom app's
    Secret for media/get."""
    monkeypatch.setenv("DUBAN_FILE_DIR", str(tmp_path / "files"))
    monkeypatch.setenv("DUBAN_FILE_MAX_MB", file_max_mb)
    monkeypatch.setenv("DUBAN_WECOM_APP_SECRET", "app-secret")
    return Settings.from_env()


@pytest.fixture
def n(hook_rt) -> int:
    return min(
        i
        for (i, d) in hook_rt.assignments
        if d == DEPT and not hook_rt.catalog.get(i).is_secret and i in hook_rt.catalog.regular_ids
    )


def files_on_disk(rt) -> list[str]:
    root = rt.services.files.root
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def filed(rt, n: int, user_actor: str):
    a = rt.store.assignments.get(n, DEPT)[0]
    entries = [e for e in rt.store.audit.entries(200) if e.action == "file"]
    return [m for m in a.materials if m.file is not None], entries


# --- DingTalk ----------------------------------------------------------------------------------


def ding(client, payload: dict) -> str:
    resp = cb.ding_post(client, payload)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = json.loads(resp.get_data())
    if body["msgtype"] == "empty":
        return ""
    return body["text"]["content"] if body["msgtype"] == "text" else body["markdown"]["text"]


def ding_file(msg_id: str, code: str, name: str, **kw) -> dict:
    """A `file` message (消息发送与接收类型): content holds downloadCode, fileName, spaceId, fileId."""
    p = cb.ding_payload("", msg_id, group=False, **kw)
    del p["text"]
    p["msgtype"] = "file"
    p["content"] = {"downloadCode": code, "fileName": name, "spaceId": "2000", "fileId": "f1"}
    return p


def ding_picture(msg_id: str, code: str) -> dict:
    p = cb.ding_payload("", msg_id, group=False)
    del p["text"]
    p["msgtype"] = "picture"
    p["content"] = {"downloadCode": code, "pictureDownloadCode": f"p-{code}"}
    return p


def test_a_dingtalk_file_is_filed_by_the_next_number_once(hook_client, hook_rt, stub, n):
    assert "已绑定" in ding(hook_client, cb.ding_payload("绑定 司法局", "d-bind"))
    stub.serve_file("dc-001", PDF)
    said = ding(hook_client, ding_file("d-file-1", "dc-001", "2024年执法案卷评查报告.pdf"))
    assert said == "收到文件「2024年执法案卷评查报告.pdf」，请回复指标编号（如 12）归入该项。"
    # the callback only held it and queued the download: nothing fetched, nothing stored yet
    assert not stub.requests_to("/v1.0/robot/messageFiles/download")
    assert files_on_disk(hook_rt) == []
    # a redelivery of the file message queues nothing more
    assert ding(hook_client, ding_file("d-file-1", "dc-001", "2024年执法案卷评查报告.pdf")) == said
    work(hook_rt)
    [asked] = stub.requests_to("/v1.0/robot/messageFiles/download")
    assert asked.json == {"downloadCode": "dc-001", "robotCode": "ding-robot"}
    assert asked.headers["x-acs-dingtalk-access-token"].startswith("stub-token-")
    digest = hashlib.sha256(PDF).hexdigest()
    assert files_on_disk(hook_rt) == [digest]
    reply = ding(hook_client, cb.ding_payload(str(n), "d-num-1", group=False))
    assert f"已将文件「2024年执法案卷评查报告.pdf」归入第{n}项" in reply
    # the number's callback redelivered: the same reply, filed once
    assert ding(hook_client, cb.ding_payload(str(n), "d-num-1", group=False)) == reply
    kept, audited = filed(hook_rt, n, "dingtalk:staff001")
    assert [(m.file.sha256, m.name) for m in kept] == [(digest, "2024年执法案卷评查报告.pdf")]
    assert [(e.actor, e.department, e.indicator, e.note) for e in audited] == [
        ("dingtalk:staff001", DEPT, n, "2024年执法案卷评查报告.pdf")
    ]
    # the hold is gone: the next bare number is not a filing any more
    assert "归入" not in ding(hook_client, cb.ding_payload(str(n), "d-num-2", group=False))
    assert len(filed(hook_rt, n, "")[0]) == 1


def test_a_dingtalk_picture_is_named_by_its_time_and_kind(hook_client, hook_rt, stub, n):
    ding(hook_client, cb.ding_payload("绑定 司法局", "d-bind"))
    stub.serve_file("dc-pic", PNG)
    said = ding(hook_client, ding_picture("d-pic-1", "dc-pic"))
    assert said == "收到图片，请回复指标编号（如 12）归入该项。"
    # a number sent before the download finished: asked to wait, nothing filed
    early = ding(hook_client, cb.ding_payload(str(n), "d-early", group=False))
    assert "还在接收中" in early and not filed(hook_rt, n, "")[0]
    work(hook_rt)
    reply = ding(hook_client, cb.ding_payload(f"第{n}项", "d-num", group=False))
    [m] = filed(hook_rt, n, "")[0]
    assert m.name.startswith("图片 ") and m.name.endswith(".png") and m.kind_label == "PNG 图片"
    assert f"归入第{n}项" in reply


def test_a_refused_file_is_told_and_never_filed(hook_client, hook_rt, stub, n):
    ding(hook_client, cb.ding_payload("绑定 司法局", "d-bind"))
    stub.serve_file("dc-exe", b"MZ\x90\x00" + b"\x00" * 200)
    ding(hook_client, ding_file("d-exe", "dc-exe", "报告.pdf"))
    work(hook_rt)
    assert files_on_disk(hook_rt) == []
    [told] = [x for x in notices(hook_rt) if "不是可接收的文件类型" in x.text]
    assert told.department == DEPT and told.mentions == ("dingtalk:staff001",)
    reply = ding(hook_client, cb.ding_payload(str(n), "d-num", group=False))
    assert "不是可接收的文件类型" in reply and not filed(hook_rt, n, "")[0]
    # and the refusal was the end of it
    assert hook_rt.store.held_files.get("dingtalk", "staff001") is None


def test_a_file_for_another_departments_item_stays_held(hook_client, hook_rt, stub, n):
    ding(hook_client, cb.ding_payload("绑定 司法局", "d-bind"))
    foreign = min(
        i
        for (i, d) in hook_rt.assignments
        if d != DEPT
        and (i, DEPT) not in hook_rt.assignments
        and hook_rt.catalog.get(i).kind == "regular"
    )
    stub.serve_file("dc-2", PDF)
    ding(hook_client, ding_file("d-f", "dc-2", "a.pdf"))
    work(hook_rt)
    refused = ding(hook_client, cb.ding_payload(str(foreign), "d-x", group=False))
    assert "归入" not in refused and DEPT in refused
    assert "归入" in ding(hook_client, cb.ding_payload(str(n), "d-y", group=False))


def test_a_sender_without_a_department_is_asked_to_bind(hook_client, hook_rt, stub):
    stub.serve_file("dc-3", PDF)
    said = ding(hook_client, ding_file("d-nb", "dc-3", "a.pdf"))
    assert "绑定" in said
    assert hook_rt.store.held_files.get("dingtalk", "staff001") is None


# --- WeCom smart bot ---------------------------------------------------------------------------


def smartbot(client, data: dict) -> str:
    resp = client.post(
        "/hooks/wecom",
        query_string=(req := cb.smartbot_request(json.dumps(data, ensure_ascii=False)))[0],
        data=req[1],
        content_type="application/json",
    )
    if resp.get_data() == b"":
        return ""
    return smartbot_reply(resp)["stream"]["content"]


def smartbot_message(msg_id: str, msgtype: str, body: dict) -> dict:
    """A single-chat message of the smart bot (接收消息): images and files come in 1:1 only."""
    return {
        "msgid": msg_id,
        "aibotid": "AIBOTID",
        "chattype": "single",
        "from": {"userid": "zhangsan"},
        "response_url": "https://example.invalid/resp",
        "msgtype": msgtype,
        msgtype: body,
    }


def test_a_wecom_smartbot_file_is_decrypted_with_the_bots_key_and_filed(
    hook_client, hook_rt, stub, n
):
    text = smartbot_message("w-bind", "text", {"content": "绑定 司法局"})
    assert "已绑定" in smartbot(hook_client, text)
    # served encrypted with the bot's EncodingAESKey, its name only in Content-Disposition
    url = stub.serve_file("w-file", cb.wecom_media(PDF), "整改报告.pdf")
    message = smartbot_message("w-file-1", "file", {"url": url})
    assert smartbot(hook_client, message) == "收到文件，请回复指标编号（如 12）归入该项。"
    smartbot(hook_client, message)  # redelivered (WeCom retries after 5 s)
    work(hook_rt)
    assert len([r for r in stub.requests if r.raw_path.endswith("/w-file")]) == 1
    number = smartbot_message("w-num-1", "text", {"content": str(n)})
    reply = smartbot(hook_client, number)
    assert f"已将文件「整改报告.pdf」归入第{n}项" in reply
    assert smartbot(hook_client, number) == reply
    [m] = filed(hook_rt, n, "")[0]
    assert m.file.sha256 == hashlib.sha256(PDF).hexdigest() and m.file.kind == "pdf"
    assert m.added_by == "zhangsan" or m.added_by


def test_a_wecom_smartbot_file_not_under_the_bots_key_is_refused(hook_client, hook_rt, stub, n):
    smartbot(hook_client, smartbot_message("w-bind", "text", {"content": "绑定 司法局"}))
    url = stub.serve_file(
        "w-bad", cb.wecom_media(PDF, "S2V5T2ZTb21lb25lRWxzZTAxMjM0NTY3ODlhYmNkZWY"), "a.pdf"
    )
    smartbot(hook_client, smartbot_message("w-bad-1", "image", {"url": url}))
    work(hook_rt)
    assert files_on_disk(hook_rt) == []
    held = chatfiles.Held.from_json(hook_rt.store.held_files.get("wecom", "zhangsan"))
    assert held.state == "refused" and "未能接收" in held.why


# --- WeCom self-built app -----------------------------------------------------------------------


def app(client, xml: str) -> str:
    query, body = cb.app_request(xml)
    resp = client.post(
        "/hooks/wecom-app", query_string=query, data=body, content_type="application/xml"
    )
    if resp.get_data() == b"":
        return ""
    return app_reply(resp).findtext("Content")


def app_image(msg_id: str, media_id: str) -> str:
    """An image message (接收普通消息): PicUrl and MediaId."""
    return (
        f"<xml><ToUserName><![CDATA[{cb.CORP_ID}]]></ToUserName>"
        "<FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1700000000</CreateTime>"
        "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[https://wework.qpic.cn/x]]></PicUrl>"
        f"<MediaId><![CDATA[{media_id}]]></MediaId><MsgId>{msg_id}</MsgId>"
        "<AgentID>1000002</AgentID></xml>"
    )


def test_a_wecom_app_image_is_fetched_by_media_get_and_filed(hook_client, hook_rt, stub, n):
    assert "已绑定" in app(hook_client, cb.app_text_xml("绑定 司法局", "9000001"))
    stub.serve_file("MEDIA_abc", PNG, "现场照片.png")
    assert app(hook_client, app_image("9000002", "MEDIA_abc")) == (
        "收到图片，请回复指标编号（如 12）归入该项。"
    )
    app(hook_client, app_image("9000002", "MEDIA_abc"))  # redelivered
    work(hook_rt)
    [got] = stub.requests_to("/cgi-bin/media/get")
    assert got.query == {"access_token": "stub-wecom-app-token", "media_id": "MEDIA_abc"}
    [token] = stub.requests_to("/cgi-bin/gettoken")
    assert token.query == {"corpid": cb.CORP_ID, "corpsecret": "app-secret"}
    reply = app(hook_client, cb.app_text_xml(str(n), "9000003"))
    assert f"已将文件「现场照片.png」归入第{n}项" in reply
    assert app(hook_client, cb.app_text_xml(str(n), "9000003")) == reply
    [m] = filed(hook_rt, n, "")[0]
    assert m.name == "现场照片.png" and m.kind_label == "PNG 图片"
    assert len([e for e in hook_rt.store.audit.entries(100) if e.action == "file"]) == 1


def test_a_wecom_app_media_error_is_told(hook_client, hook_rt, stub, n):
    app(hook_client, cb.app_text_xml("绑定 司法局", "9100001"))
    app(hook_client, app_image("9100002", "MEDIA_gone"))  # media/get answers 40007
    work(hook_rt)
    held = chatfiles.Held.from_json(hook_rt.store.held_files.get("wecom_app", "zhangsan"))
    assert held.state == "refused" and files_on_disk(hook_rt) == []
    assert [x for x in notices(hook_rt) if "未能接收" in x.text]


@pytest.mark.parametrize("dingtalk_reply", ["queue"])
def test_dingtalk_answered_later_holds_and_files_the_same(hook_client, hook_rt, stub, n):
    """With replies through the sessionWebhook (DUBAN_DINGTALK_REPLY=queue) the file message
    goes through the inbox like any other: held once, downloaded, filed by the number."""
    assert ding(hook_client, cb.ding_payload("绑定 司法局", "q-bind", oapi_base=stub.url)) == ""
    stub.serve_file("dc-q", PDF)
    assert ding(hook_client, ding_file("q-file", "dc-q", "台账.pdf", oapi_base=stub.url)) == ""
    work(hook_rt)  # the answering consumer runs the file message, then the download job runs
    work(hook_rt)
    sent = [r.json for r in stub.requests_to("/robot/sendBySession")]
    assert any("收到文件「台账.pdf」" in json.dumps(b, ensure_ascii=False) for b in sent)
    assert (
        ding(hook_client, cb.ding_payload(str(n), "q-num", group=False, oapi_base=stub.url)) == ""
    )
    work(hook_rt)
    [m] = filed(hook_rt, n, "")[0]
    assert m.name == "台账.pdf"
    sent = [
        json.dumps(r.json, ensure_ascii=False) for r in stub.requests_to("/robot/sendBySession")
    ]
    assert any(f"归入第{n}项" in b for b in sent)


@pytest.mark.parametrize("file_max_mb", ["1"])
def test_a_file_over_the_limit_is_not_read_whole_and_is_told(hook_client, hook_rt, stub, n):
    ding(hook_client, cb.ding_payload("绑定 司法局", "d-bind"))
    stub.serve_file("dc-big", b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024), "大文件.pdf")
    ding(hook_client, ding_file("d-big", "dc-big", "大文件.pdf"))
    work(hook_rt)
    assert files_on_disk(hook_rt) == []
    [told] = [x for x in notices(hook_rt) if "超过了 1.0 MB 的上限" in x.text]
    assert "大文件.pdf" in told.text and told.mentions == ("dingtalk:staff001",)
    reply = ding(hook_client, cb.ding_payload(str(n), "d-big-n", group=False))
    assert "超过了" in reply and not filed(hook_rt, n, "")[0]

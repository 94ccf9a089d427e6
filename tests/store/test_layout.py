"""The store's key layout: byte for byte what it was before `bot/store/` became a package, with
each key moved behind its hash tag (`t:{default}:...` a campaign's, `t:{_}:...` the deployment's,
bot/store/keys.py), and the layout marker of the migration.

`tests/fixtures/store_layout.json` was written by running `scenario` against the single-module
store of commit 04070fa (before the split, call spellings as they were then): it is the layout
before campaigns, which the migration test (test_migration.py) writes and moves. Every area of state
is touched: chat commands write assignments, undo stacks, bindings, stars, event dates, comments
and submissions; the rest is written through the store directly. The test runs the same scenario
through today's store and compares every key's name, type, value and expiry with the fixture.
The fixture stays the layout before campaigns: a layout change needs a migration (and its test).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.filllinks import FillLink
from bot.messages import Notice
from bot.store import Keys
from bot.store.audit import AuditLog
from bot.store.exports import Exports
from bot.store.keys import STATUS_LOG, place

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_layout.json"
STREAM_ID = re.compile(rb"^\d+-\d+$")


def scenario(rt, chat) -> dict[str, str]:
    """Write state through the store; returns {raw token: placeholder} for random names."""
    sfj = chat("u-sfj", "张三")
    admin = chat("boss", "王主任", admin=True)
    sfj("绑定 司法局")
    sfj("提交 12 https://www.jinfeng.gov.cn/a.html 制度文件")
    sfj("纸质 12 涉密执法数据 存放：机要室2号柜")
    sfj("完成 12")
    admin("退回 12 司法局 缺少2019年台账")
    sfj("整改 12 已整改")
    sfj("完成 12")
    sfj("撤销 12")
    sfj("不涉及 1 我局无行政审批事项")
    admin("通过 1 司法局 确认")
    admin("星标 4")
    admin("查验日期 9月15日")
    sfj("报送 确认")
    s = rt.store
    s.comments.add(12, "司法局", {"side": "office", "name": "王主任", "text": "请补"}, "boss")
    s.bindings.decide_request(
        "console", "u-new", "", s.bindings.get("console", "u-sfj"), "bind_request", "u-new",
        department="司法局", note="想加入",
        notices=(Notice("有新的绑定申请", "", ("boss",), "notice"),),
    )  # fmt: skip
    s.fill_links.issue(
        FillLink("L" * 22, "console", "u-sfj", "司法局", "张三", 1597370400), 600, "n"
    )
    s.submissions.update_files("司法局", 1, {"xlsx": "tok"}, "system:export", "submission_files")
    token = s.exports.put("a.xlsx", b"data", department="司法局", kind="xlsx")
    s.links.record("https://www.jinfeng.gov.cn/a.html", {"ok": True, "status": 200}, 1e9)
    s.links.plan("https://a.cn/x", 2e9)
    s.logins.open_session("sess-1", "fp", 3600)
    s.logins.reserve("10.0.0.1", 10, 60, 3, 100, 1000)
    s.scheduler.hold_lock("sched", "tok-1", 60000)
    s.scheduler.claim_slot("remind", "2020-08-14T09", "tok-1")
    s.scheduler.finish_slot("remind", "2020-08-13T09", "job-1")
    s.outbox.add_once([("remind:x", Notice("请填报", "司法局", (), "remind"))])
    s.outbox.publish_ranking("rank:w33", {"司法局": 1}, [Notice("排行", "", (), "ranking")])
    s.reminders.claim(["司法局"], s.now_iso(), 3600)
    s.inbox.accept("dingtalk", "m-acc", '{"text": "x"}')
    s.inbox.claim("dingtalk", "m-claim")
    s.delivery.push_end("push-1", 0, "tok", "sent", 3600)
    s.delivery.lease("push-2", '{"a": 1}', 1e9)
    s.delivery.cache_token("wecom", "secret-token", 600)
    s.delivery.add_dead_letter("d1", {"at": "2020-08-14T02:00:00Z", "text": "x"})
    s.delivery.start_cooldown("robot-1", 60000)
    s.scheduler.clock_anchor("demo", 1.5e9)
    s.inbox.mark_consumer("w1", 60000)
    s.outbox.ensure_group("g")
    s.outbox.request_drain("g", 60000)
    s.assignments.preload("dingtalk", "u-x", None, "none", chat_department="司法局")
    sfj("提交 12 https://www.jinfeng.gov.cn/q.html 方案")
    return {token: "<export-token>"}


def snapshot(client, prefix: str, names: dict[str, str]) -> dict[str, dict]:
    """Every key under `prefix` with its type, value (stream ids left out) and TTL in seconds."""

    def text(v) -> str:
        out = v.decode() if isinstance(v, bytes) else str(v)
        for raw, name in names.items():
            out = out.replace(raw, name)
        return out

    out = {}
    for raw in sorted(client.scan_iter(match=f"{prefix}:*", count=1000)):
        kind = client.type(raw).decode()
        if kind == "string":
            value = text(client.get(raw))
        elif kind == "hash":
            value = {text(k): text(v) for k, v in sorted(client.hgetall(raw).items())}
        elif kind == "list":
            value = [text(v) for v in client.lrange(raw, 0, -1)]
        elif kind == "set":
            value = sorted(text(v) for v in client.smembers(raw))
        elif kind == "zset":
            value = [[text(m), s] for m, s in client.zrange(raw, 0, -1, withscores=True)]
        else:  # stream: each entry's fields in their order
            value = [[[text(k), text(v)] for k, v in f.items()] for _, f in client.xrange(raw)]
        ttl = client.pttl(raw)
        out[text(raw)] = {"type": kind, "value": value, "ttl": -1 if ttl < 0 else round(ttl / 1000)}
    return out


# Values that Redis's own clock writes (TIME inside a script): compared by shape only.
_REDIS_TIME = {
    "t:login:account-wait",
    "t:budget:robot-1",
    "t:bindfold:console:u-sfj",
}


def tagged(layout: dict, campaign: str = "default") -> dict:
    """The layout before campaigns with every key at its place today, and the layout marker."""
    out = {}
    for key, entry in layout.items():
        rest = key[len("t:") :]
        tag = campaign if place(rest) == "campaign" else "_"
        out[f"t:{{{tag}}}:{rest}"] = entry
    out["t:{_}:layout"] = {"ttl": -1, "type": "string", "value": "2"}
    return out


def _rest(key: str) -> str:
    return key.split("}:", 1)[1] if "}:" in key else key[len("t:") :]


def _comparable(layout: dict) -> dict:
    out = {}
    for key, entry in layout.items():
        e = dict(entry)
        if "t:" + _rest(key) in _REDIS_TIME:
            e["value"] = "<redis time>"
        elif _rest(key).startswith("sub:"):  # Lua's cjson writes the fields in no fixed order
            e["value"] = [json.loads(v) for v in e["value"]]
        e["ttl"] = -1 if e["ttl"] < 0 else "expires"
        out[key] = e
    return out


def test_keys_types_values_and_expiry_are_todays(rt, chat, redis_client):
    names = scenario(rt, chat)
    layout = snapshot(redis_client, "t", names)
    # Newer than the fixture, and needing no migration: the status hash's change log, which a
    # store without it does without (its readers read the hash whole, Assignments.statuses).
    log = layout.pop(f"t:{{{rt.settings.campaign}}}:{STATUS_LOG}")
    assert log["type"] == "stream" and log["ttl"] == -1
    expected = tagged(json.loads(FIXTURE.read_text(encoding="utf-8")), rt.settings.campaign)
    assert sorted(layout) == sorted(expected)
    assert _comparable(layout) == _comparable(expected)
    for key, entry in layout.items():  # the same expiry, give or take the test's run time
        if entry["ttl"] >= 0:
            assert abs(entry["ttl"] - expected[key]["ttl"]) <= 5, key


def test_every_key_name_is_where_the_one_rule_puts_it():
    """Keys and `place` (what the migration follows) agree on every key name."""
    old, new = Keys("p"), Keys("p", "c1")
    samples = {"department": "司法局", "indicator_id": 12, "person": "console:u", "name": "n",
               "platform": "dingtalk", "message_id": "m", "user_id": "u", "robot": "r",
               "url": "https://a.cn", "token": "tok", "digest": "d", "link_id": "L",
               "push_id": "p1", "part": 0, "nonce": "n1"}  # fmt: skip
    checked = 0
    for attr in dir(Keys):
        if attr.startswith("_") or attr in ("prefix", "campaign"):
            continue
        member = getattr(Keys, attr)
        if isinstance(member, property):
            a, b = getattr(old, attr), getattr(new, attr)
        else:
            names = member.__code__.co_varnames[1 : member.__code__.co_argcount]
            args = [samples[n] for n in names]
            a, b = member(old, *args), member(new, *args)
        if attr in ("campaign_head", "deployment_head", "none", "deployment_none"):
            continue
        rest = a[len("p:") :]
        want = "p:{c1}:" if place(rest) == "campaign" else "p:{_}:"
        assert b == want + rest, attr
        checked += 1
    assert checked > 50
    assert new.accepted("dingtalk", "m") == "p:{_}:seen:dingtalk-in:m"
    assert new.seen("dingtalk", "m") == "p:{c1}:seen:dingtalk:m"


def test_an_area_works_on_its_own_connection_keys_and_clock(redis_client, clock):
    """An area needs no RedisStore: like RQ's Queue, it is built from a connection, the key names
    and a clock (here the audit entry of an export, written by Python, in the Lua layout)."""
    exports = Exports(redis_client, Keys("solo", "c1"), clock)
    token = exports.put("a.csv", b"x,y", department="司法局", kind="csv")
    assert exports.get(token) == ("a.csv", b"x,y")
    [entry] = AuditLog(redis_client, Keys("solo", "c1"), clock).entries()
    assert (entry.action, entry.department, entry.after, entry.note) == (
        "export",
        "司法局",
        token,
        "a.csv",
    )
    assert redis_client.exists(Keys("solo", "c1").export(token))
    assert not redis_client.exists(Keys("t", "default").export(token))

"""A file sent in chat held for its sender (bot/chatfiles.py) in the store: held for ten
minutes from its arrival, changed only by compare-and-set (a newer file wins), let go only by
the step that filed it; a bare number means nothing once nothing is held."""

from __future__ import annotations

import time

from bot import chatfiles
from bot.chatfiles import Held
from bot.filestore import StoredFile
from bot.messages import Incoming, Notice

F = StoredFile("ab" * 32, 10, "a.pdf", "pdf")


def test_a_hold_lasts_ten_minutes_and_keeps_its_time_when_the_download_ends(rt):
    s = rt.store
    first = Held("m1", "downloading", "文件「a.pdf」").to_json()
    s.held_files.hold("dingtalk", "u1", first, chatfiles.HOLD_S)
    assert 599_000 < rt.redis.pttl(s.keys.held_file("dingtalk", "u1")) <= 600_000
    stored = Held("m1", "stored", "文件「a.pdf」", F, "files/ab/x").to_json()
    rt.redis.pexpire(s.keys.held_file("dingtalk", "u1"), 300_000)  # five minutes went by
    assert s.held_files.update("dingtalk", "u1", first, stored)
    assert Held.from_json(s.held_files.get("dingtalk", "u1")).file == F
    assert 299_000 < rt.redis.pttl(s.keys.held_file("dingtalk", "u1")) <= 300_000


def test_a_newer_file_wins_over_the_download_of_an_older_one(rt):
    s = rt.store
    old = Held("m1", "downloading", "图片").to_json()
    s.held_files.hold("wecom", "u1", old, 600)
    new = Held("m2", "downloading", "文件「b.pdf」").to_json()
    s.held_files.hold("wecom", "u1", new, 600)
    told = (Notice("x", "司法局"),)
    outbox = rt.redis.xlen(s.keys.outbox)
    assert not s.held_files.update(
        "wecom", "u1", old, Held("m1", "refused", "图片", why="x").to_json(), told
    )
    assert s.held_files.get("wecom", "u1") == new and rt.redis.xlen(s.keys.outbox) == outbox
    assert not s.held_files.drop("wecom", "u1", old)
    assert s.held_files.get("wecom", "u1") == new
    assert s.held_files.drop("wecom", "u1", new) and s.held_files.get("wecom", "u1") is None


def test_a_refusal_and_its_notice_are_written_together(rt):
    s = rt.store
    held = Held("m1", "downloading", "图片").to_json()
    s.held_files.hold("wecom", "u1", held, 600)
    outbox = rt.redis.xlen(s.keys.outbox)
    why = Held("m1", "refused", "图片", why="图片超过了上限").to_json()
    assert s.held_files.update("wecom", "u1", held, why, (Notice("图片超过了上限", "司法局"),))
    assert rt.redis.xlen(s.keys.outbox) == outbox + 1


def test_a_bare_number_is_a_filing_only_while_a_file_is_held(rt, sfj):
    n = min(i for (i, d) in rt.assignments if d == "司法局" and not rt.catalog.get(i).is_secret)
    assert "归入" not in sfj(str(n))
    held = Held("m1", "stored", "文件「a.pdf」", F, "files/ab/x").to_json()
    rt.store.held_files.hold("console", "u-sfj", held, 1)
    msg = Incoming("console", "u-sfj", str(n), mentioned=True)
    assert f"已将文件「a.pdf」归入第{n}项" in rt.dispatcher.handle(msg).text
    assert rt.store.held_files.get("console", "u-sfj") is None  # let go once filed
    rt.store.held_files.hold("console", "u-sfj", held, 1)
    time.sleep(1.2)
    assert "归入" not in sfj(str(n))

"""Back up and restore (bot/backup.py): a round trip gives the same state key for key; a store
that holds state is never merged into; a file from a newer version, a cut or altered file is
refused whole; the daily job keeps its files; a full disk leaves no half-written backup."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import redis
from rq import SimpleWorker

from bot import backup
from bot.config import Settings
from bot.progress import Role
from bot.queue import make_queue
from bot.records import Change
from bot.schedule import schedule_table
from bot.store import RedisStore, StateError
from tests.store.conftest import CLUSTER

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.fromisoformat("2020-08-17T10:00:00+08:00")
# what a backup leaves out here: locks, office sessions, the statuses' change log
NOT_BACKED_UP = ("lock:", "websess:", "statuslog")


def snapshot(client: redis.Redis, prefix: str) -> dict[str, tuple[object, bool]]:
    """Every key under the prefix (relative) -> (its content, read by type; whether it
    expires). Streams include their consumer groups: where each has read to, what it holds."""
    out = {}
    for raw in client.scan_iter(match=prefix + ":*"):
        key = raw.decode()
        kind = client.type(key).decode()
        if kind == "string":
            value: object = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            groups = [
                (g["name"], g["last-delivered-id"], g["pending"]) for g in client.xinfo_groups(key)
            ]
            value = (client.xrange(key), groups)
        out[key[len(prefix) + 1 :]] = (kind, value, client.pttl(key) > 0)
    return out


def _rest(rel: str) -> str:
    """A key relative to the prefix without its hash tag ({default}: or {_}:)."""
    return rel.split("}:", 1)[1] if rel.startswith("{") else rel


@pytest.fixture
def worked(rt, sfj, admin):
    """A store after a few days of real work: bindings, materials, a return, a submission."""
    assert "已收到第12项" in sfj("提交 12 https://www.nxjf.gov.cn/a.html 制度文件")
    assert "第12项" in sfj("说明 12 一、总体情况\n（一）已完成。")
    assert "已标记完成" in sfj("完成 12")
    assert "已退回" in admin("退回 12 司法局 缺少附件")
    rt.store.outbox.ensure_group("backup-test")
    rt.store.scheduler.hold_lock("scheduler", "someone", 60_000)
    rt.store.logins.open_session("s1", "fp", 600)
    return rt


def test_a_round_trip_gives_the_same_state_key_for_key(worked, tmp_path):
    rt = worked
    before = snapshot(rt.redis, "t")
    path = tmp_path / "state.jsonl.gz"
    count = backup.write_backup(rt.store, path, NOW)
    held = {k for k in before if not _rest(k).startswith(NOT_BACKED_UP)}
    assert count == len(held) > 20
    rt.redis.flushdb()
    assert backup.restore_backup(rt.store, path) == count
    after = snapshot(rt.redis, "t")
    assert set(after) == held
    for key in held:
        assert after[key] == before[key], key
    # and read through the store as the product reads it
    assignments = rt.store.assignments.of_department("司法局")
    assert assignments[12].status.value == "returned"
    assert assignments[12].explanation == "一、总体情况\n（一）已完成。"


def test_a_process_that_read_the_statuses_reads_the_restored_ones(worked, sfj, tmp_path):
    """The statuses' change log (Assignments.statuses) is not backed up and a restore deletes
    it: a process that read the statuses before a restore, and saw a later change, reads the
    restored hash afterwards, not its own copy with that change applied."""
    store = worked.store
    path = tmp_path / "state.jsonl.gz"
    before = dict(store.assignments.statuses())
    assert before[(12, "司法局")][1].value == "returned"
    backup.write_backup(store, path, NOW)
    assert "已标记完成" in sfj("完成 12")
    assert store.assignments.statuses()[(12, "司法局")][1].value == "done"
    backup.restore_backup(store, path, replace=True)
    assert dict(store.assignments.statuses()) == before


def test_restore_under_another_prefix(worked, tmp_path):
    path = tmp_path / "state.jsonl.gz"
    backup.write_backup(worked.store, path, NOW)
    other = RedisStore(worked.redis, "restored", campaign=worked.store.campaign)
    backup.restore_backup(other, path)
    assert other.assignments.of_department("司法局") == worked.store.assignments.of_department(
        "司法局"
    )
    assert other.audit.length() == worked.store.audit.length()


def test_a_store_with_state_is_never_merged_into(worked, tmp_path):
    path = tmp_path / "state.jsonl.gz"
    backup.write_backup(worked.store, path, NOW)
    before = snapshot(worked.redis, "t")
    with pytest.raises(StateError):
        backup.restore_backup(worked.store, path)
    assert snapshot(worked.redis, "t") == before
    # --replace: exactly the backup's state, nothing of what was there besides
    worked.redis.set("t:extra:key", "x")
    backup.restore_backup(worked.store, path, replace=True)
    assert worked.redis.exists("t:extra:key") == 0
    assert worked.store.assignments.of_department("司法局")[12].status.value == "returned"


def _rewrite(path: Path, edit) -> None:
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(edit(lines))))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda ls: ls[:-1], "不完整"),  # no footer
        (lambda ls: ls[:3] + ls[4:], "不完整"),  # a key line missing: the count is off
        (lambda ls: [ls[0], *(x.replace(b'"t":-1', b'"t":5', 1) for x in ls[1:])], "校验不符"),
        (
            lambda ls: [ls[0].replace(b'"version":3', b'"version":4'), *ls[1:]],
            "更新的版本",
        ),
        (lambda ls: [b'{"format":"other"}\n', *ls[1:]], "不是督办的备份"),
    ],
)
def test_a_damaged_or_newer_file_is_refused_whole(worked, tmp_path, damage, message):
    path = tmp_path / "state.jsonl.gz"
    backup.write_backup(worked.store, path, NOW)
    assert b'"t":-1' in gzip.decompress(path.read_bytes()).splitlines()[2]
    _rewrite(path, damage)
    worked.redis.flushdb()
    with pytest.raises(backup.BackupError, match=message):
        backup.restore_backup(worked.store, path)
    assert worked.redis.dbsize() == 0


def test_a_file_cut_short_is_refused(worked, tmp_path):
    path = tmp_path / "state.jsonl.gz"
    backup.write_backup(worked.store, path, NOW)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    worked.redis.flushdb()
    with pytest.raises(backup.BackupError):
        backup.restore_backup(worked.store, path)
    assert worked.redis.dbsize() == 0


@pytest.mark.skipif(CLUSTER, reason="RQ workers do not run on a Redis Cluster")
def test_the_daily_job_runs_on_a_worker_and_keeps_the_newest(rt, settings, tmp_path, monkeypatch):
    directory = tmp_path / "backups"
    directory.mkdir()
    old = [directory / f"duban-state-2020080{d}-023000.jsonl.gz" for d in range(1, 6)]
    for p in old:
        p.write_bytes(b"old")
    (directory / "duban-state-20200801-023000.jsonl.gz.part").write_bytes(b"half")
    (directory / "notes.txt").write_text("not ours")
    env = {
        "DUBAN_REDIS_URL": settings.redis_url,
        "DUBAN_KEY_PREFIX": "t",
        "DUBAN_DEMO": "1",
        "DUBAN_BACKUP_DIR": str(directory),
        "DUBAN_BACKUP_KEEP": "3",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    entry = {e.name: e for e in schedule_table(Settings.from_env())}["backup"]
    assert entry.cron == "30 2 * * *" and entry.real_time
    queue = make_queue(rt.redis, "t")
    job = queue.enqueue(entry.job, slot="x", now_iso="")
    SimpleWorker([queue], connection=rt.redis).work(burst=True)
    job.refresh()
    assert job.is_finished, job.latest_result()
    result = job.return_value()
    kept = sorted(p.name for p in directory.iterdir())
    assert kept == sorted([p.name for p in old[-2:]] + [result["file"], "notes.txt"])
    restored = backup.read_backup(directory / result["file"])
    assert len(restored.entries) == result["keys"] > 0


def test_no_scheduled_backup_when_keep_is_zero():
    names = {e.name for e in schedule_table(Settings(backup_keep=0))}
    assert "backup" not in names and "remind" in names


def _can_mount() -> bool:
    return (
        os.geteuid() == 0
        and subprocess.run(["which", "mount"], capture_output=True).returncode == 0
    )


@pytest.mark.skipif(not _can_mount(), reason="mounting a small tmpfs needs root")
def test_a_full_disk_leaves_no_half_written_backup(worked, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(small)], check=True)
    try:
        for i in range(300):  # more state than 16 KB can hold, compressed
            worked.redis.set(f"t:blob:{i}", os.urandom(64).hex())
        with pytest.raises(OSError):
            backup.write_backup(worked.store, small / "state.jsonl.gz", NOW)
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_the_command_line_backs_up_restores_and_refuses(worked, settings, tmp_path):
    path = tmp_path / "cli.jsonl.gz"
    env = {**os.environ, "DUBAN_REDIS_URL": settings.redis_url, "DUBAN_KEY_PREFIX": "t"}
    env |= {
        "DUBAN_CAMPAIGN": settings.campaign,
        "DUBAN_REDIS_CLUSTER": str(int(settings.redis_cluster)),
    }
    env["DUBAN_FILE_DIR"] = str(tmp_path / "files")

    def run(*args, prefix="t"):
        return subprocess.run(
            [sys.executable, "-m", "bot.backup", *args],
            cwd=ROOT,
            env={**env, "DUBAN_KEY_PREFIX": prefix},
            capture_output=True,
            text=True,
            timeout=60,
        )

    out = run("export-state", str(path))
    assert out.returncode == 0, out.stderr
    assert "已备份" in out.stdout
    header = json.loads(gzip.decompress(path.read_bytes()).splitlines()[0])
    assert header["format"] == "duban-state" and header["version"] == backup.VERSION == 3
    refused = run("import-state", str(path))
    assert refused.returncode == 2
    assert "已有数据" in refused.stderr and "--replace" in refused.stderr
    into_new = run("import-state", str(path), prefix="fresh")
    assert into_new.returncode == 0, into_new.stderr
    assert snapshot(worked.redis, "fresh") == {
        k: v
        for k, v in snapshot(worked.redis, "t").items()
        if not _rest(k).startswith(NOT_BACKED_UP)
    }


# --- stored files (format version 2) ---------------------------------------------------------

PDF = b"%PDF-1.4\n%files in a backup\n%%EOF\n"


def _with_a_file(rt, files):
    """司法局's item 12 holds an uploaded PDF, kept by `files`, as the fill-in page keeps it."""
    from bot import filestore, office, rules

    f = filestore.accept(PDF, "执法案卷评查报告.pdf", 1024 * 1024)
    files.put(PDF, f)
    a, raw = rt.store.assignments.get(12, "司法局")
    at = rt.store.now_iso()
    edit = rules.add_file(
        a, rt.catalog.get(12), f, files.location(f.sha256), who="张三", by="console:u", at=at
    )
    office.save_edit(rt, a, raw, edit, "console:u", by_office=False)
    return f


def test_stored_files_travel_with_the_state(worked, tmp_path):
    from bot.filestore import LocalFileStore

    files = LocalFileStore(tmp_path / "files")
    f = _with_a_file(worked, files)
    path = tmp_path / "state.jsonl.gz"
    count = backup.write_backup(worked.store, path, NOW, files)
    read = backup.read_backup(path)
    assert read.version == backup.VERSION and read.files == [(f.sha256, PDF)]
    # restored elsewhere: the keys, and the file's bytes under the same digest
    elsewhere = LocalFileStore(tmp_path / "elsewhere")
    worked.redis.flushdb()
    assert backup.restore_backup(worked.store, path, files=elsewhere) == count
    m = worked.store.assignments.of_department("司法局")[12].materials[-1]
    assert m.file == f and elsewhere.get(f.sha256) == PDF
    assert list(elsewhere.digests()) == [f.sha256]


def test_a_backup_with_files_is_not_restored_without_a_file_store_or_into_state(worked, tmp_path):
    from bot.filestore import LocalFileStore

    files = LocalFileStore(tmp_path / "files")
    _with_a_file(worked, files)
    path = tmp_path / "state.jsonl.gz"
    backup.write_backup(worked.store, path, NOW, files)
    elsewhere = LocalFileStore(tmp_path / "elsewhere")
    with pytest.raises(StateError):
        backup.restore_backup(worked.store, path, files=elsewhere)
    assert list(elsewhere.digests()) == []  # nothing kept from a refused restore
    worked.redis.flushdb()
    with pytest.raises(backup.BackupError, match="文件存放目录"):
        backup.restore_backup(worked.store, path)
    assert worked.store.backup.state_keys() == []


def test_an_altered_file_line_is_refused_whole(worked, tmp_path):
    from bot.filestore import LocalFileStore

    files = LocalFileStore(tmp_path / "files")
    f = _with_a_file(worked, files)
    path = tmp_path / "state.jsonl.gz"
    backup.write_backup(worked.store, path, NOW, files)
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    at = next(i for i, x in enumerate(lines) if f.sha256.encode() in x and b'"f"' in x)
    row = json.loads(lines[at])
    row["v"] = __import__("base64").b64encode(PDF.replace(b"files", b"filez")).decode()
    lines[at] = json.dumps(row).encode() + b"\n"
    path.write_bytes(gzip.compress(b"".join(lines)))
    with pytest.raises(backup.BackupError, match="校验不符"):
        backup.read_backup(path)


def test_a_version_1_file_is_still_restored(worked, tmp_path):
    """A backup written before files travelled (version 1: keys, then the footer)."""
    path = tmp_path / "state.jsonl.gz"
    count = backup.write_backup(worked.store, path, NOW)
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    header, footer = json.loads(lines[0]), json.loads(lines[-1])
    header["version"] = 1
    del footer["files"]
    lines[0] = json.dumps(header).encode() + b"\n"
    lines[-1] = json.dumps(footer).encode() + b"\n"
    path.write_bytes(gzip.compress(b"".join(lines)))
    worked.redis.flushdb()
    assert backup.restore_backup(worked.store, path) == count
    assert worked.store.assignments.of_department("司法局")[12].status.value == "returned"


def _second_campaign(rt, clock) -> RedisStore:
    """Another campaign of the same deployment, with state of its own."""
    other = RedisStore(rt.redis, "t", clock, campaign="jinfeng-2021")
    other.assignments.sync({(4, "司法局"): Role.LEAD, (5, "教育局"): Role.LEAD})
    a, raw = other.assignments.get(4, "司法局")
    other.assignments.save(Change(raw, a.changed("x", "t", explanation="2021"), "x", "explain"))
    return other


def test_one_campaign_backs_up_and_restores_without_touching_the_others(worked, clock, tmp_path):
    rt = worked
    other = _second_campaign(rt, clock)
    path = tmp_path / "default.jsonl.gz"
    mine_head = "{" + rt.store.campaign + "}:"
    count = backup.write_backup(rt.store, path, NOW, campaign=rt.store.campaign)
    header = json.loads(gzip.decompress(path.read_bytes()).splitlines()[0])
    assert header["campaign"] == rt.store.campaign and header["version"] == 3
    saved = backup.read_backup(path)
    assert saved.campaign == rt.store.campaign and len(saved.entries) == count > 20
    assert not any("{" in rel for rel, _, _ in saved.entries)  # relative to the campaign
    before = snapshot(rt.redis, "t")
    mine = {k: v for k, v in before.items() if k.startswith(mine_head)}
    others = {k: v for k, v in before.items() if not k.startswith(mine_head)}
    restored = {k: v for k, v in mine.items() if not _rest(k).startswith(NOT_BACKED_UP)}
    assert any(k.startswith("{jinfeng-2021}:") for k in others)
    assert any(k.startswith("{_}:") for k in others)

    # the campaign holds state: refused, nothing changed
    with pytest.raises(StateError):
        backup.restore_backup(rt.store, path)
    assert snapshot(rt.redis, "t") == before
    # the campaign changed since, then restored with --replace: that campaign only
    rt.redis.set(f"t:{mine_head}extra", "x")
    other.assignments.sync({(6, "教育局"): Role.LEAD})
    others_now = {k: v for k, v in snapshot(rt.redis, "t").items() if not k.startswith(mine_head)}
    assert backup.restore_backup(rt.store, path, replace=True) == count
    after = snapshot(rt.redis, "t")
    assert {k: v for k, v in after.items() if k.startswith(mine_head)} == restored
    assert {k: v for k, v in after.items() if not k.startswith(mine_head)} == others_now
    assert other.assignments.get(4, "司法局")[0].explanation == "2021"

    # into a deployment that has other campaigns but not this one: no --replace needed
    for k in [k for k in after if k.startswith(mine_head)]:
        rt.redis.delete("t:" + k)
    assert backup.restore_backup(rt.store, path) == count
    assert rt.store.assignments.of_department("司法局")[12].status.value == "returned"
    assert other.assignments.get(4, "司法局")[0].explanation == "2021"


def test_a_backup_from_before_campaigns_restores_into_the_default_campaign(worked, tmp_path):
    """A version 2 file names keys as they were (`dept:司法局`): they are placed as the
    migration places them."""
    rt = worked
    path = tmp_path / "v3.jsonl.gz"
    backup.write_backup(rt.store, path, NOW)
    before = snapshot(rt.redis, "t")

    def as_v2(lines):
        import hashlib

        header = json.loads(lines[0])
        header["version"] = 2
        digest = hashlib.sha256()
        out = [json.dumps(header).encode() + b"\n"]
        for line in lines[1:-1]:
            row = json.loads(line)
            if "k" in row:
                row["k"] = _rest(row["k"])
            line = json.dumps(row, separators=(",", ":")).encode() + b"\n"
            digest.update(line)
            out.append(line)
        footer = json.loads(lines[-1])
        footer["sha256"] = digest.hexdigest()
        return [*out, json.dumps(footer).encode() + b"\n"]

    _rewrite(path, as_v2)
    rt.redis.flushdb()
    backup.restore_backup(rt.store, path)
    restored = snapshot(rt.redis, "t")
    assert set(restored) == {k for k in before if not _rest(k).startswith(NOT_BACKED_UP)}
    assert rt.store.assignments.of_department("司法局")[12].status.value == "returned"


def test_the_command_line_backs_up_one_campaign(worked, clock, settings, tmp_path):
    _second_campaign(worked, clock)
    path = tmp_path / "one.jsonl.gz"
    env = {**os.environ, "DUBAN_REDIS_URL": settings.redis_url, "DUBAN_KEY_PREFIX": "t"}
    env |= {
        "DUBAN_CAMPAIGN": settings.campaign,
        "DUBAN_REDIS_CLUSTER": str(int(settings.redis_cluster)),
    }
    env["DUBAN_FILE_DIR"] = str(tmp_path / "files")

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "bot.backup", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    out = run("export-state", str(path), "--campaign", "jinfeng-2021")
    assert out.returncode == 0, out.stderr
    assert "活动 jinfeng-2021 的" in out.stdout
    assert backup.read_backup(path).campaign == "jinfeng-2021"
    unknown = run("export-state", str(tmp_path / "x.jsonl.gz"), "--campaign", "nope")
    assert unknown.returncode == 2 and "没有任何数据" in unknown.stderr
    refused = run("import-state", str(path))
    assert refused.returncode == 2 and "--replace" in refused.stderr
    replaced = run("import-state", str(path), "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert "其他活动未改动" in replaced.stdout

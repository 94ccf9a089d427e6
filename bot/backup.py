"""Back up and restore a deployment's state: every key under its prefix, in a versioned file;
or one campaign's keys only.

python -m bot.backup export-state FILE [--campaign ID]  write a backup of the running store
python -m bot.backup import-state FILE [--replace]      restore one (refused into a store with state)

With --campaign the file holds that campaign's keys only and says so in its header; restoring it
writes (and with --replace first deletes) that campaign's keys and no others: the deployment's
other campaigns and its own keys are left as they are.

The file is gzip'd JSON lines: a header (format, version, prefix, time), one line per key (its
name relative to the prefix, its time to live and Redis's own DUMP payload, base64), one line
per stored file (bot/filestore.py: its SHA-256 and its bytes, base64; since version 2) and a
footer with the counts and a SHA-256 of the key and file lines. A version 1 file (keys only)
is still restored. Version 3: keys in campaigns (`{<campaign>}:<rest>` relative to the prefix,
or `<rest>` relative to the campaign's head in a campaign's file); the keys of a version 1 or 2
file are placed into today's layout as the migration places them (bot/store/keys.py). A file without its footer (a disk that
filled up, a copy cut short) is refused whole: nothing is restored from half a file. The daily
job (`backup` in bot/schedule.py) writes one into DUBAN_BACKUP_DIR and keeps DUBAN_BACKUP_KEEP.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

FORMAT = "duban-state"
VERSION = 3  # 2: stored files travel with the keys; 3: campaign keys, a campaign's own backup
NAME_PREFIX = "duban-state-"
SUFFIX = ".jsonl.gz"


class BackupError(Exception):
    """A file that cannot be restored; the text says why, in Chinese, for the operator."""


@dataclass(frozen=True)
class Backup:
    prefix: str
    created: str
    entries: list[tuple[str, int, bytes]]
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (sha256, bytes)
    version: int = VERSION
    campaign: str | None = None  # a campaign's backup: its keys only


def write_backup(store, path: Path, now: datetime, files=None, campaign: str | None = None) -> int:
    """Write the store's state to `path` (atomically: a temporary file renamed at the end, so a
    full disk leaves no half-written backup under the final name); returns the key count.
    `files`: the file store (bot.filestore.FileStore) whose every file goes with the keys.
    `campaign`: only that campaign's keys (the header names it)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    count = 0
    try:
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            header = {"format": FORMAT, "version": VERSION, "prefix": store.keys.prefix}
            header["created"] = now.isoformat()
            if campaign is not None:
                header["campaign"] = campaign
            out.write(_line(header))
            for rel, ttl, payload in store.backup.dump(campaign=campaign):
                line = _line({"k": rel, "t": ttl, "v": base64.b64encode(payload).decode()})
                digest.update(line)
                out.write(line)
                count += 1
            kept = 0
            for sha256 in files.digests() if files is not None else ():
                data = files.get(sha256)
                if data is None:
                    continue  # gone since it was listed
                line = _line({"f": sha256, "v": base64.b64encode(data).decode()})
                digest.update(line)
                out.write(line)
                kept += 1
            footer = {"end": True, "keys": count, "files": kept, "sha256": digest.hexdigest()}
            out.write(_line(footer))
            out.flush()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def read_backup(path: Path) -> Backup:
    """The whole file, checked: format, version, every line, the footer's count and digest."""
    try:
        with gzip.open(path, "rb") as f:
            lines = f.read().splitlines(keepends=True)
    except FileNotFoundError:
        raise BackupError(f"找不到备份文件：{path}") from None
    except (OSError, EOFError) as e:
        raise BackupError(
            f"备份文件已损坏或不完整（{e.__class__.__name__}），未恢复任何数据"
        ) from None
    try:
        header = json.loads(lines[0]) if lines else {}
    except ValueError:
        header = {}
    if header.get("format") != FORMAT:
        raise BackupError("这不是督办的备份文件，未恢复任何数据")
    version = header.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise BackupError(
            f"备份文件来自更新的版本（格式 {version}，本程序支持 {VERSION}），请先升级督办"
        )
    digest = hashlib.sha256()
    entries: list[tuple[str, int, bytes]] = []
    files: list[tuple[str, bytes]] = []
    footer = None
    for line in lines[1:]:
        try:
            row = json.loads(line)
        except ValueError:
            raise BackupError("备份文件有损坏的行，未恢复任何数据") from None
        if row.get("end"):
            footer = row
            break
        digest.update(line)
        if "f" in row:
            data = base64.b64decode(row["v"])
            if hashlib.sha256(data).hexdigest() != row["f"]:
                raise BackupError("备份文件中的文件内容校验不符，未恢复任何数据")
            files.append((row["f"], data))
            continue
        entries.append((row["k"], int(row["t"]), base64.b64decode(row["v"])))
    if footer is None or footer.get("keys") != len(entries):
        raise BackupError("备份文件不完整（缺少结尾），未恢复任何数据")
    if footer.get("files", 0) != len(files):
        raise BackupError("备份文件不完整（文件数不符），未恢复任何数据")
    if footer.get("sha256") != digest.hexdigest():
        raise BackupError("备份文件校验不符，未恢复任何数据")
    campaign = header.get("campaign")
    if version < 3:  # keys named as before campaigns: today's names are decided at restore
        campaign = None
    prefix, created = header.get("prefix", ""), header.get("created", "")
    return Backup(prefix, created, entries, files, version, campaign)


def restore_backup(store, path: Path, replace: bool = False, files=None) -> int:
    """Read and check the whole file first, then restore it; returns the key count. The stored
    files go into `files` (a FileStore) before the keys that name them: a store that holds
    state (without `replace`) is refused before either."""
    from bot.store import StateError

    backup = read_backup(path)
    if backup.files and files is None:
        raise BackupError("备份文件含有上传的文件，但没有指定文件存放目录，未恢复任何数据")
    campaign = backup.campaign
    existing = store.backup.holds_state(campaign) if backup.files and not replace else []
    if existing:
        raise StateError(len(existing))
    for sha256, data in backup.files:
        files.put(data, file_of(sha256, data))
    entries = backup.entries
    if backup.version < 3:
        entries = [(store.backup.relocate(rel), ttl, v) for rel, ttl, v in entries]
    return store.backup.restore(entries, replace=replace, campaign=campaign)


def file_of(sha256: str, data: bytes):
    """A file of a backup as the file store takes it (its digest and size are what it checks)."""
    from bot.filestore import StoredFile, sniff

    return StoredFile(sha256, len(data), sha256, sniff(data) or "pdf")


def backup_name(now: datetime) -> str:
    return f"{NAME_PREFIX}{now.strftime('%Y%m%d-%H%M%S')}{SUFFIX}"


def scheduled_backup(store, directory: Path, keep: int, now: datetime, files=None) -> dict:
    """The daily job: one new backup in `directory` (with the stored `files`), then only the
    newest `keep` kept."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / backup_name(now)
    count = write_backup(store, path, now, files)
    removed = prune(directory, keep)
    return {"file": path.name, "keys": count, "removed": removed}


def prune(directory: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` backups (by name, which sorts by time); leftovers of
    interrupted writes (*.part) go too. Other files in the directory are never touched."""
    ours = sorted(p for p in Path(directory).glob(f"{NAME_PREFIX}*{SUFFIX}") if p.is_file())
    gone = ours[: max(0, len(ours) - keep)]
    gone += list(Path(directory).glob(f"{NAME_PREFIX}*{SUFFIX}.part"))
    for p in gone:
        p.unlink(missing_ok=True)
    return sorted(p.name for p in gone)


def _line(obj: dict) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def main(argv: Iterable[str] | None = None) -> int:
    from bot.config import Settings
    from bot.migrate import ensure_layout
    from bot.store import RedisStore
    from bot.store.connection import connect_redis

    parser = argparse.ArgumentParser(
        prog="python -m bot.backup", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    exp = sub.add_parser("export-state", help="write a backup")
    exp.add_argument("file")
    exp.add_argument("--campaign", help="only this campaign's keys (the others are left out)")
    imp = sub.add_parser("import-state", help="restore a backup")
    imp.add_argument("file")
    imp.add_argument(
        "--replace",
        action="store_true",
        help="delete the store's state first (a campaign's file: that campaign's only)",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    from bot.filestore import file_store

    settings = Settings.from_env()
    client, embedded = connect_redis(settings)
    store = RedisStore(client, settings.key_prefix, campaign=settings.campaign)
    try:
        ensure_layout(settings, client)
        return _run(args, store, file_store(settings.file_dir, settings.data_dir))
    finally:
        store.r.close()
        if embedded is not None:
            embedded.stop()


def _run(args: argparse.Namespace, store, files=None) -> int:
    from bot.store import StateError

    if args.cmd == "export-state":
        now = datetime.now().astimezone()
        if args.campaign and not store.backup.state_keys(args.campaign):
            print(f"活动 {args.campaign} 没有任何数据，未写备份。请检查活动编号。", file=sys.stderr)
            return 2
        try:
            count = write_backup(store, Path(args.file), now, files, campaign=args.campaign)
        except OSError as e:
            print(f"备份写入失败（{e.strerror or e}），没有留下不完整的文件", file=sys.stderr)
            return 2
        scope = f"活动 {args.campaign} 的" if args.campaign else ""
        print(f"已备份{scope} {count} 个键到 {args.file}")
        return 0
    try:
        count = restore_backup(store, Path(args.file), replace=args.replace, files=files)
    except BackupError as e:
        print(str(e), file=sys.stderr)
        return 2
    except StateError as e:
        print(
            f"当前库中已有数据（{e.count} 个键），未恢复。确认要用备份覆盖时加 --replace"
            "（请先停止督办的各个进程）。",
            file=sys.stderr,
        )
        return 2
    campaign = read_backup(Path(args.file)).campaign
    scope = f"活动 {campaign} 的" if campaign else ""
    print(
        f"已从 {args.file} 恢复{scope} {count} 个键（其他活动未改动）"
        if campaign
        else f"已从 {args.file} 恢复 {count} 个键"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

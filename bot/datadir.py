"""What the data directory (DUBAN_DATA_DIR) holds besides the embedded Redis's files: the
generated session key, and the lock that makes one `make run` its owner.

Both are files, not settings: every process of one data directory reads the same key, and the
lock goes with the process that holds it, however that process ends.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from pathlib import Path

SECRET_FILE = "secret_key"
LOCK_FILE = "run.lock"


def secret_key(data_dir: str | Path) -> str:
    """The session key kept in `data_dir`, generated (random, mode 0600) by the first process
    that asks. Processes starting together agree: each writes a candidate of its own and
    links it into place, and the first link wins."""
    path = Path(data_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process was first: use its key
        finally:
            tmp.unlink()
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # copied around with looser rights: nobody else may read it
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise RuntimeError(
            f"{path} 中的会话密钥过短或为空：请删除该文件后重新启动，将自动生成新密钥。"
        )
    return key


class DataDirBusy(Exception):
    """Another process owns the data directory; `owner` is what it wrote (pid, port)."""

    def __init__(self, owner: dict):
        super().__init__(owner)
        self.owner = owner


class Ownership:
    """An exclusive lock on `data_dir/run.lock` for this process's lifetime (flock: released by
    the kernel when the process ends, even by kill -9, so it never goes stale)."""

    def __init__(self, data_dir: str | Path):
        self.path = Path(data_dir) / LOCK_FILE
        self.fd: int | None = None

    def claim(self, **about) -> Ownership:
        """Take the lock and write `about` (with our pid) into the file; DataDirBusy if taken."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            raise DataDirBusy(owner) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), **about}).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _read_owner(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}

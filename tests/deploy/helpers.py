"""What the deploy/ tests share: the files under deploy/, the tools they run (Debian's systemd,
nginx, redis-server; .ci/run installs the first two), and the processes they start."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
APP_DIR = "/opt/duban"  # where the units, the image and the README put the code
TEMPLATE = "duban-stream@.service"  # intranet mode, one instance per platform (bot/stream/)
SERVICES = sorted(p.name for p in SYSTEMD.glob("duban-*.service"))
PROCESSES = [s for s in SERVICES if s != TEMPLATE]  # what duban.target starts


def tool(name: str, package: str) -> str:
    """The path of a system tool, or a skip saying why (.ci/run installs it when it can)."""
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if not found:
        pytest.skip(f"{name} is not installed here (Debian package {package}; .ci/run installs it)")
    return found


def unit(name: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file of deploy/systemd as (key, value) pairs per section, repeated keys kept."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in (SYSTEMD / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def exec_start(name: str) -> list[str]:
    (line,) = [v for k, v in unit(name)["Service"] if k == "ExecStart"]
    return shlex.split(line)


def dockerfile() -> list[tuple[str, str]]:
    """deploy/Dockerfile as (INSTRUCTION, arguments); continuations joined, comments dropped."""
    out, pending = [], ""
    for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        word, _, rest = (pending + text).partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def env_example() -> dict[str, str]:
    """deploy/env.example's settings in file order, read as systemd's EnvironmentFile= does for
    these plain lines (the format test checks they are plain)."""
    out: dict[str, str] = {}
    for line in (DEPLOY / "env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value
    return out


def procfile() -> dict[str, str] | None:
    """deploy/Procfile (name: command), the processes `make run` starts; None where it is not
    there yet."""
    path = DEPLOY / "Procfile"
    if not path.exists():
        return None
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            out[name.strip()] = command.strip()
    return out


def program(argv: list[str]) -> tuple[str, ...]:
    """A process's command with what only says where it runs taken out: the interpreter's or
    the app directory's path, the listen address, where logs go. What is left (program,
    module, queues, config file, app) must be the same wherever the process runs."""
    words = [w for w in argv if "=" not in w or w.startswith("-")]  # no leading VAR=value
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word in ("--bind", "-b", "--access-logfile", "--error-logfile"):
            skip = True
            continue
        if word.startswith(APP_DIR + "/"):
            word = word[len(APP_DIR) + 1 :]
        out.append(word)
    first = Path(out[0]).name
    if first.startswith("python") and out[1:3] == ["-m", "gunicorn"]:
        out = ["gunicorn", *out[3:]]
    elif first.startswith("python"):
        out = ["python", *out[1:]]
    else:
        out[0] = first
    return (out[0], *sorted(out[1:]))


INTRANET = "stream"  # the Procfile's intranet-mode process: a template unit, a compose profile


def procfile_programs(intranet: bool = False) -> dict[str, tuple[str, ...]] | None:
    """The Procfile's processes that a production install runs itself (not the embedded Redis,
    which production replaces by deploy/redis.conf), without the intranet-mode process, which
    runs only where a platform is set to it (or only that one, with `intranet`)."""
    procs = procfile()
    if procs is None:
        return None
    return {
        name: program(shlex.split(cmd))
        for name, cmd in procs.items()
        if "bot.embedded" not in cmd
        and "redis-server" not in cmd
        and (name == INTRANET) == intranet
    }


def get(url: str, timeout: float = 5.0, **kw) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, **kw)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"exited with {proc.returncode} before it was healthy:\n{out}")
        try:
            if get(url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def app_env(redis_url: str, prefix: str, **more: str) -> dict[str, str]:
    """The environment of a process started by a test: no DUBAN_* of the caller's, the test's
    Redis, a key prefix of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}
    env |= {"DUBAN_REDIS_URL": redis_url, "DUBAN_KEY_PREFIX": prefix, **more}
    return env


def start_gunicorn(port: int, env: dict[str, str], *extra: str) -> subprocess.Popen:
    """The web process as deploy/gunicorn.conf.py serves it, from this checkout."""
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", *extra, "app:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip

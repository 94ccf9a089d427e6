"""`systemctl` inside the runbook test's sandbox (tests/deploy/test_runbook.py), where no systemd
runs: it starts and stops what the runbook's units say, the way systemd would run them.

- duban.target and duban-*.service: each service's ExecStart=, as its User=, in its
  WorkingDirectory=, with EnvironmentFile= and Environment= only (as systemd gives a service a
  clean environment); duban.target starts its Wants=. Type=notify (the web process) waits
  until the --bind port listens, as `systemctl start` waits for READY=1. systemd's confinement
  (ProtectSystem= ...) is not applied here: `systemd-analyze verify` checks those lines.
- redis-server: as Debian's redis-server.service, `redis-server /etc/redis/redis.conf`, as the
  redis user, in its runtime directory /run/redis.
- nginx: started, or reloaded when it runs.
Every call is appended to $RUNBOOK_SHIM_LOG. Not part of the product.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

UNITS = Path("/etc/systemd/system")
STATE = Path("/run/runbook-systemctl")
LOGS = Path("/var/log/runbook-systemctl")


def sections(name: str) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = out.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return out


def one(sec: list[tuple[str, str]], key: str, default: str = "") -> str:
    found = [v for k, v in sec if k == key]
    return found[-1] if found else default


def services(unit: str) -> list[str]:
    name = unit if "." in unit else unit + ".service"
    if name.endswith(".target"):
        return one(sections(name)["Unit"], "Wants").split()
    return [name]


def pid_of(name: str) -> int | None:
    path = STATE / f"{name}.pid"
    if not path.exists():
        return None
    pid = int(path.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return None if state == "Z" else pid


def env_of(sec: list[tuple[str, str]]) -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    for key, value in sec:
        if key == "EnvironmentFile":
            for line in Path(value.lstrip("-")).read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    k, _, v = line.partition("=")
                    env[k.strip()] = v
        elif key == "Environment":
            env.update(w.split("=", 1) for w in shlex.split(value))
    return env


def wait_port(port: int, pid: int, seconds: float = 90.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pid_of_pid(pid) is None:
            return False
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def pid_of_pid(pid: int) -> int | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def start_service(name: str) -> int:
    if pid_of(name):
        return 0
    unit = sections(name)
    sec = unit["Service"]
    argv = shlex.split(one(sec, "ExecStart"))
    env = env_of(sec)
    user = one(sec, "User", "root")
    STATE.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    log = open(LOGS / f"{name}.log", "ab")  # noqa: SIM115
    cmd = ["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]
    proc = subprocess.Popen(
        cmd, cwd=one(sec, "WorkingDirectory", "/"), stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    (STATE / f"{name}.pid").write_text(str(proc.pid))
    if one(sec, "Type") == "notify":
        port = int(argv[argv.index("--bind") + 1].rsplit(":", 1)[1])
        if not wait_port(port, proc.pid):
            print(f"{name}: not listening on {port}; its log:", file=sys.stderr)
            print((LOGS / f"{name}.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            return 1
    return 0


def stop_service(name: str) -> None:
    pid = pid_of(name)
    if pid is None:
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and pid_of(name):
        time.sleep(0.1)
    if pid_of(name):
        os.killpg(pid, signal.SIGKILL)
    (STATE / f"{name}.pid").unlink(missing_ok=True)


def redis(verb: str) -> int:
    conf = "/etc/redis/redis.conf"
    pidfile = Path("/run/redis/redis-server.pid")
    pid = int(pidfile.read_text() or 0) if pidfile.exists() else 0
    running = bool(pid and pid_of_pid(pid))
    if running and verb in ("stop", "restart"):
        os.kill(pid, signal.SIGTERM)
        while pid_of_pid(pid) and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
            time.sleep(0.1)
        running = False
    if verb == "stop" or running:
        return 0
    # Debian's package owns these by redis (its postinst and the unit's RuntimeDirectory=).
    subprocess.run(["install", "-d", "-o", "redis", "-g", "redis", "/run/redis"], check=True)
    subprocess.run(["chown", "-R", "redis:redis", "/var/lib/redis"], check=True)
    return subprocess.run(
        ["runuser", "-u", "redis", "--", "/usr/bin/redis-server", conf, "--daemonize", "yes"]
    ).returncode


def nginx(verb: str) -> int:
    pidfile = Path("/run/nginx.pid")
    running = pidfile.exists() and pid_of_pid(int(pidfile.read_text() or 0))
    if verb == "stop":
        return subprocess.run(["nginx", "-s", "quit"]).returncode if running else 0
    if running:
        return subprocess.run(["nginx", "-s", "reload"]).returncode
    return subprocess.run(["nginx"]).returncode


def main(args: list[str]) -> int:
    with open(os.environ["RUNBOOK_SHIM_LOG"], "a", encoding="utf-8") as f:
        f.write("systemctl " + " ".join(args) + "\n")
    words = [a for a in args if not a.startswith("-")]
    verb, units = words[0], words[1:]
    if verb == "enable" and "--now" in args:
        verb = "start"
    if verb in ("daemon-reload", "enable", "disable"):
        return 0
    if verb == "status":
        names = sorted(p.name[:-4] for p in STATE.glob("*.pid")) if STATE.exists() else []
        for name in names:
            pid = pid_of(name)
            print(f"{name}: {'active (running), pid ' + str(pid) if pid else 'inactive (dead)'}")
        return 0 if names and all(pid_of(n) for n in names) else 3
    rc = 0
    for unit in units:
        base = unit.removesuffix(".service")
        if base == "redis-server":
            rc |= redis(verb)
        elif base == "nginx":
            rc |= nginx(verb)
        elif base.startswith("duban"):
            names = services(unit)
            if verb in ("stop", "restart"):
                for name in names:
                    stop_service(name)
            if verb in ("start", "restart"):
                for name in names:
                    rc |= start_service(name)
        else:
            print(f"systemctl (runbook test): {unit} is not simulated", file=sys.stderr)
            return 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

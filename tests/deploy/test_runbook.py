"""docs/运维手册.md, the runbook, cannot rot: every command block marked `<!-- runbook-test -->`
is run, in order, in one shell, as an operator would type it on a fresh Debian machine.

The machine is this one seen through a sandbox: a mount namespace with copy-on-write layers over
/etc, /opt, /usr/local, /var/lib, /var/log, /var/www and /run (whatever the runbook writes there
lands in a temp dir), a network namespace of its own (its ports are free, nothing gets out) and a
PID namespace (everything it started ends with it). The code is put at /opt/duban as `git clone`
leaves it (the repository's files); the install block is the README's install steps, which
tests/deploy/test_image.py runs in a clean directory, so here /opt/duban/venv is this test's
virtualenv. `apt-get` only records what it was asked (the packages are installed here), and
`systemctl` runs what the units say (tests/deploy/runbook_systemctl.py). Everything else is real:
systemd-sysusers, Redis with deploy/redis.conf, systemd-analyze verify, nginx -t and nginx with
the shipped site, the services as their units start them, /healthz over HTTPS, backup and
restore with the `duban` command.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.helpers import ROOT, tool
from tests.deploy.test_image import readme_install_steps

RUNBOOK = ROOT / "docs" / "运维手册.md"
BLOCK = re.compile(r"<!-- runbook-test(?::\s*([\w-]+))? -->\n```bash\n(.*?)```", re.S)
LAYERS = ["/etc", "/opt", "/usr/local", "/var/lib", "/var/log", "/var/www", "/run", "/root"]


def blocks() -> list[tuple[str, str]]:
    """The marked blocks, in order: (name or "", text)."""
    return [(m.group(1) or "", m.group(2)) for m in BLOCK.finditer(RUNBOOK.read_text("utf-8"))]


def test_the_readme_links_the_runbook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/运维手册.md)" in readme


def test_the_runbook_installs_as_the_readme_and_the_image_do():
    (install,) = [text for name, text in blocks() if name == "install"]
    lines = [" ".join(line.split()) for line in install.splitlines() if line.strip()]
    assert lines == readme_install_steps()


def test_every_marked_block_is_bash_the_shell_can_parse():
    found = blocks()
    assert len(found) >= 10
    for _name, text in found:
        out = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
        assert out.returncode == 0, (text, out.stderr)


def sandbox_or_skip() -> None:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("the sandbox needs root and unshare (util-linux)")
    if not Path("/usr/bin/redis-server").exists():
        pytest.skip("Debian's redis-server is not installed here (.ci/run installs it)")
    try:
        pwd.getpwnam("redis")
    except KeyError:
        pytest.skip("no redis user: Debian's redis-server package is not installed properly")
    for name, package in [("nginx", "nginx"),
                          ("systemd-analyze", "systemd"), ("systemd-sysusers", "systemd"),
                          ("openssl", "openssl"), ("curl", "curl"), ("runuser", "util-linux")]:  # fmt: skip
        tool(name, package)
    probe = subprocess.run(
        ["unshare", "--mount", "--net", "--pid", "--fork", "true"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"no namespaces here: {probe.stderr.decode(errors='replace').strip()}")


def checkout_files() -> list[str]:
    """What a clone of the repository holds: its tracked files (and new ones not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    )  # fmt: skip
    return [p for p in out.stdout.decode().split("\0") if p and (ROOT / p).is_file()]


# What the test checks around blocks: before (PRE) or after (CHECKS) the block holding the key.
# The backup holds the state the started services prepared, and a key written after it must be
# gone after the restore. Before the Redis block of "what to do when", Redis is stopped: the
# health check says so, and afterwards the same service processes are still there.
PASSWORD_IN_ENV = r'sed -n "s|^DUBAN_REDIS_URL=redis://:\([^@]*\)@.*|\1|p" /etc/duban/env'
RC = f'RC="redis-cli -a $({PASSWORD_IN_ENV}) --no-auth-warning"'
PRE = {
    "journalctl -u redis-server": """
PIDS_BEFORE=$(cat /run/runbook-systemctl/duban-*.pid)
systemctl stop redis-server
test "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/healthz)" = 503
curl -sS http://127.0.0.1:8000/healthz | grep -q '"redis":false'
""",
}
CHECKS = {
    # the day's scheduled backup (DUBAN_BACKUP_AT 02:30, Beijing time), missed while nothing
    # ran, is caught up once the scheduler starts: written where the runbook says, by the
    # services' user
    "systemctl enable --now redis-server duban.target": """
if [ "$(TZ=Asia/Shanghai date +%H%M)" -ge 232 ]; then
  for i in $(seq 120); do ls /var/lib/duban/backups/duban-state-*.jsonl.gz >/dev/null 2>&1 && break; sleep 0.5; done
  test "$(stat -c %U /var/lib/duban/backups/duban-state-*.jsonl.gz)" = duban
fi
""",
    "export-state": f"""
{RC}
test "$($RC dbsize)" -gt 100
$RC set duban:runbook-canary written-after-the-backup
""",
    "import-state": f"""
{RC}
test "$($RC exists duban:runbook-canary)" = 0
""",
    "journalctl -u redis-server": """
test "$(cat /run/runbook-systemctl/duban-*.pid)" = "$PIDS_BEFORE"
""",
    "NEW_REDIS_PASSWORD": f"""
{RC}
test "$($RC ping)" = PONG
! redis-cli -a "$REDIS_PASSWORD" --no-auth-warning ping 2>/dev/null | grep -q PONG
""",
}


def closed_dirs() -> list[Path]:
    """Folders on the way to this test's venv and interpreter that other users cannot enter;
    each must be inside one of the sandbox's layers, so that opening it touches nothing here."""
    out = []
    for target in (Path(sys.prefix), Path(sys.executable).resolve()):
        for d in [target, *target.parents]:
            if d.is_dir() and not d.stat().st_mode & 0o001 and d not in out:
                out.append(d)
    return out


def outside_layers(dirs: list[Path]) -> list[Path]:
    """The closed folders no layer covers (e.g. a checkout in a `mktemp -d` folder, mode 0700):
    each gets a layer of its own, outermost first, so opening it touches nothing here either."""
    return sorted(
        (d for d in dirs if not any(d.is_relative_to(layer) for layer in LAYERS)),
        key=lambda d: len(d.parts),
    )


def script(tmp: Path, shims: Path, stage: Path) -> str:
    lines = [
        "set -eo pipefail",
        "trap 'echo \"::failed in block $RUNBOOK_BLOCK: $BASH_COMMAND\" >&2' ERR",
        "mount --make-rprivate /",
    ]
    for i, d in enumerate(LAYERS):
        up, work = tmp / "layers" / f"{i}-up", tmp / "layers" / f"{i}-work"
        up.mkdir(parents=True)
        work.mkdir(parents=True)
        lines.append(f"mount -t overlay overlay -o lowerdir={d},upperdir={up},workdir={work} {d}")
    for i, d in enumerate(outside_layers(closed_dirs())):
        up, work = tmp / "layers" / f"own{i}-up", tmp / "layers" / f"own{i}-work"
        up.mkdir(parents=True)
        work.mkdir(parents=True)
        lines.append(f"mount -t overlay overlay -o lowerdir={d},upperdir={up},workdir={work} {d}")
    lines += [
        "ip link set lo up",
        # The venv the services run from here is this test's, whose interpreter may live under
        # a home directory (pyenv, /root): let the service users reach it, in the sandbox's
        # layer only. (On a real machine the install block's venv uses /usr/bin/python3.)
        *(f"chmod o+x {d}" for d in closed_dirs()),
        f"mkdir -p /opt/duban && cp -a {stage}/. /opt/duban/",
        f"export PATH={shims}:$PATH RUNBOOK_SHIM_LOG={tmp / 'shims.log'}",
        "cd /root 2>/dev/null || cd /",
    ]
    for n, (name, text) in enumerate(blocks(), 1):
        lines.append(f"RUNBOOK_BLOCK={n}; echo '::block {n}'")
        if name == "install":  # the README's install steps: tests/deploy/test_image.py runs them
            lines.append(f"ln -s {sys.prefix} /opt/duban/venv")
            continue
        lines += [check for key, check in PRE.items() if key in text]
        lines.append(text)
        lines += [check for key, check in CHECKS.items() if key in text]
    lines.append("echo '::done'")
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_runbook_followed_step_by_step_on_a_fresh_machine(tmp_path):
    sandbox_or_skip()
    stage = tmp_path / "checkout"
    for rel in checkout_files():
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, stage / rel)
    shims = tmp_path / "shims"
    shims.mkdir()
    for name in ("apt-get", "journalctl"):
        (shims / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "$RUNBOOK_SHIM_LOG"\n')
    (shims / "systemctl").write_text(
        f"#!{sys.executable}\n" + (Path(__file__).parent / "runbook_systemctl.py").read_text()
    )
    for p in shims.iterdir():
        p.chmod(0o755)
    (tmp_path / "run.sh").write_text(script(tmp_path, shims, stage), encoding="utf-8")
    out = subprocess.run(
        ["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc",
         "bash", str(tmp_path / "run.sh")],
        capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    logs = tmp_path / "layers"
    service_logs = "".join(
        f"\n--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
        for p in sorted(logs.glob("*-up/runbook-systemctl/*.log"))
    )
    told = out.stdout[-6000:] + "\n" + out.stderr[-6000:] + service_logs
    assert out.returncode == 0 and "::done" in out.stdout, told
    # the services answered /healthz directly and through nginx over HTTPS, after a new Redis
    # password, after the restore and after Redis came back
    assert out.stdout.count('"status":"ok"') == 5, told
    backed_up = re.search(r"已备份 (\d+) 个键", out.stdout)
    restored = re.search(r"已从 .+ 恢复 (\d+) 个键", out.stdout)
    assert backed_up and restored and backed_up.group(1) == restored.group(1), told
    asked = (tmp_path / "shims.log").read_text(encoding="utf-8").splitlines()
    assert "apt-get install -y python3-venv nginx redis-server openssl curl" in asked
    assert "systemctl enable --now redis-server duban.target" in asked

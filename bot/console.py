"""The terminal chat: one command per line on stdin, each reply printed followed by a blank line.

    python -m bot.console --user USER [--chat CHAT] [--admin] [--name NAME]

It uses the same settings and Redis as every other process (DUBAN_* variables).
"""

from __future__ import annotations

import argparse
import sys

from bot.messages import Incoming
from bot.runtime import build_runtime, settings_from_env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bot.console", description="督办 terminal chat")
    p.add_argument("--user", required=True, help="user id (as a platform would send it)")
    p.add_argument("--chat", default="", help="group chat id; empty means a one-to-one chat")
    p.add_argument("--name", default="", help="display name")
    p.add_argument("--admin", action="store_true", help="act as the rule-of-law office")
    p.add_argument("--platform", default="console")
    p.add_argument(
        "--campaign", default="", help="campaign id to talk in (default: as a platform chat would)"
    )
    args = p.parse_args(argv)
    rt = build_runtime(settings_from_env())
    view = rt.for_campaign(args.campaign) if args.campaign else rt
    if view is None:
        p.error(f"no campaign {args.campaign!r}; one of {', '.join(rt.campaign_ids())}")
    try:
        interactive = sys.stdin.isatty()
        n = 0
        while True:
            if interactive:
                print("> ", end="", flush=True)
            line = sys.stdin.readline()
            if not line:
                break
            line = line.rstrip("\n")
            if not line.strip():
                continue
            n += 1
            msg = Incoming(
                platform=args.platform,
                user_id=args.user,
                text=line,
                chat_id=args.chat,
                is_group=bool(args.chat),
                mentioned=not args.chat or line.lstrip().startswith("@"),
                message_id=f"console-{n}",
                user_name=args.name,
                is_admin=args.admin,
            )
            reply = view.dispatcher.handle(msg, routed=bool(args.campaign))
            print(reply.text if not reply.silent else "（无回复）", flush=True)
            print(flush=True)
    finally:
        rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

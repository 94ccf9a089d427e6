"""Move a store from the layout before campaigns into campaign keys (bot/store/migration.py).

python -m bot.migrate        move today's keys into the default campaign (DUBAN_CAMPAIGN)

Every process runs it at start-up (`ensure_layout`, from build_runtime and the scheduler) under
a lock, before it reads anything: once it has run, a start-up pays one GET. Running it again
changes nothing. A key whose new name already holds another value stays where it is; the run
says so and the next start-up tries again.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from bot.config import Settings
from bot.store.migration import Migration, MigrationResult

log = logging.getLogger(__name__)


def ensure_layout(settings: Settings, client) -> MigrationResult | None:
    """Migrate the store once (None when it had been): what every process calls at start-up."""
    result = Migration(client, settings.key_prefix, settings.campaign).ensure()
    if result is not None and result.conflicts:
        log.error(
            "migration: %d keys left at their old names (their new names hold other values): %s",
            len(result.conflicts),
            ", ".join(result.conflicts[:10]),
        )
    return result


def main(argv: Iterable[str] | None = None) -> int:
    import argparse

    from bot.store.connection import connect_redis

    parser = argparse.ArgumentParser(
        prog="python -m bot.migrate", description=__doc__.split("\n")[0]
    )
    parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = Settings.from_env()
    client, embedded = connect_redis(settings)
    try:
        migration = Migration(client, settings.key_prefix, settings.campaign)
        if migration.done():
            print(f"已是按活动分区的存储格式（默认活动 {settings.campaign}），无需迁移。")
            return 0
        result = ensure_layout(settings, client) or MigrationResult()
        print(
            f"已迁移 {result.moved} 个键到默认活动 {settings.campaign}"
            f"（补完 {result.finished} 个中断时留下的键）。"
        )
        if result.conflicts:
            print(
                f"有 {len(result.conflicts)} 个键的新位置已有不同的数据，未迁移："
                f"{', '.join(result.conflicts[:10])}。请检查后再运行 python -m bot.migrate。",
                file=sys.stderr,
            )
            return 2
        return 0
    finally:
        client.close()
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    sys.exit(main())

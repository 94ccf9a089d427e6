"""The store's Lua scripts: `lua/<name>.lua`, each with `lua/shared.lua` (the audit entry, the
notice, the callback's claim and end) prepended, read once per process from the package."""

from __future__ import annotations

from functools import cache
from importlib import resources

import redis
from redis.commands.core import Script

from bot.records import SEEN_TTL_S


@cache
def source(name: str) -> str:
    """The full text of script `name`, shared helpers first."""
    lua = resources.files(__package__).joinpath("lua")
    shared = lua.joinpath("shared.lua").read_text(encoding="utf-8")
    shared = shared.replace("@SEEN_TTL_S@", str(SEEN_TTL_S))
    return shared + lua.joinpath(f"{name}.lua").read_text(encoding="utf-8")


class Scripts:
    """The scripts registered on one connection (EVALSHA after the first call), shared by the
    areas of one store."""

    def __init__(self, connection: redis.Redis):
        self.connection = connection
        self._registered: dict[str, Script] = {}

    def __call__(self, name: str) -> Script:
        script = self._registered.get(name)
        if script is None:
            script = self._registered[name] = self.connection.register_script(source(name))
        return script

    def load(self, names: tuple[str, ...]) -> None:
        """Load scripts into Redis's cache now, so that no request pays a NOSCRIPT retry."""
        for name in names:
            self.connection.script_load(self(name).script)

"""The store's Lua scripts: `lua/<name>.lua`, each with `lua/shared.lua` (the audit entry, the
notice, the callback's claim and end) prepended, read once per process from the package. A script
called on its own (not queued on a pipeline) goes as EVALSHA straight onto a connection of the
store's own (bot/store/direct.py), where the client allows it."""

from __future__ import annotations

from functools import cache
from importlib import resources

import redis
from redis.commands.core import Script

from bot.records import SEEN_TTL_S
from bot.store.direct import Direct


@cache
def source(name: str) -> str:
    """The full text of script `name`, shared helpers first."""
    lua = resources.files(__package__).joinpath("lua")
    shared = lua.joinpath("shared.lua").read_text(encoding="utf-8")
    shared = shared.replace("@SEEN_TTL_S@", str(SEEN_TTL_S))
    return shared + lua.joinpath(f"{name}.lua").read_text(encoding="utf-8")


class DirectScript:
    """A registered script called as `script(keys=…, args=…)`: straight onto the store's own
    connection (Direct), or, queued on a pipeline (`client=`), through redis-py's Script."""

    def __init__(self, script: Script, direct: Direct):
        self.script, self.direct = script, direct

    @property
    def sha(self) -> str:
        return self.script.sha

    def __call__(self, keys=(), args=(), client=None):
        if client is not None:
            return self.script(keys=keys, args=args, client=client)
        return self.direct.evalsha(self.script, keys, args)


class Scripts:
    """The scripts registered on one connection (EVALSHA after the first call), shared by the
    areas of one store."""

    def __init__(self, connection: redis.Redis):
        self.connection = connection
        self._registered: dict[str, Script | DirectScript] = {}
        # the store's own connections for its hot commands (None: redis-py's path)
        self.direct = Direct(connection) if Direct.usable(connection) else None

    def __call__(self, name: str) -> Script | DirectScript:
        script = self._registered.get(name)
        if script is None:
            script = self.connection.register_script(source(name))
            if self.direct is not None:
                script = DirectScript(script, self.direct)
            self._registered[name] = script
        return script

    def load(self, names: tuple[str, ...]) -> None:
        """Load scripts into Redis's cache now, so that no request pays a NOSCRIPT retry."""
        for name in names:
            self.connection.script_load(source(name))

"""The registry of chat platforms: which adapters exist and which are enabled.

A platform is a module or package directly under bot/platforms/ that defines
`adapter(settings) -> Platform | None` (None when its settings leave it off); it is found here,
so adding a platform touches no list elsewhere. Code outside the package (a test's toy
platform, a deployment's own adapter) adds one with `register`. This module imports the
adapters, which import bot.platforms.base; base imports none of them, so there is no cycle.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import cache

from bot.config import Settings
from bot.platforms.base import Platform

Factory = Callable[[Settings], Platform | None]

_NOT_PLATFORMS = {"base", "registry"}
_registered: dict[str, Factory] = {}


@cache
def builtin() -> dict[str, Factory]:
    """The `adapter` factories of bot/platforms' modules and packages, by module name."""
    import bot.platforms as package

    out: dict[str, Factory] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name in _NOT_PLATFORMS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        factory = getattr(module, "adapter", None)
        if callable(factory):
            out[info.name] = factory
    return out


def register(key: str, factory: Factory) -> None:
    """Add a platform defined outside bot/platforms/; `key` names it here (unregister)."""
    if key in builtin():
        raise ValueError(f"{key!r} is a built-in platform")
    _registered[key] = factory


def unregister(key: str) -> None:
    _registered.pop(key, None)


def platforms_for(settings: Settings) -> dict[str, Platform]:
    """The enabled inbound platforms keyed by route name (/hooks/<name>)."""
    out: dict[str, Platform] = {}
    for factory in [*builtin().values(), *_registered.values()]:
        platform = factory(settings)
        if platform is None:
            continue
        if platform.name in out:
            raise ValueError(f"two platforms answer /hooks/{platform.name}")
        out[platform.name] = platform
    return out

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
from bot.platforms.base import Outbound, Platform, Sender

Factory = Callable[[Settings], Platform | None]

_NOT_PLATFORMS = {"base", "registry"}
_registered: dict[str, Factory] = {}
_registered_outbound: dict[str, Sender] = {}


@cache
def _modules() -> tuple:
    import bot.platforms as package

    names = sorted(i.name for i in pkgutil.iter_modules(package.__path__))
    return tuple(
        importlib.import_module(f"{package.__name__}.{name}")
        for name in names
        if name not in _NOT_PLATFORMS and not name.startswith("_")
    )


def builtin() -> dict[str, Factory]:
    """The `adapter` factories of bot/platforms' modules and packages, by module name."""
    out: dict[str, Factory] = {}
    for module in _modules():
        factory = getattr(module, "adapter", None)
        if callable(factory):
            out[module.__name__.rsplit(".", 1)[1]] = factory
    return out


@cache
def builtin_outbound() -> dict[str, Sender]:
    """The `OUTBOUND` declarations of bot/platforms' modules and packages, by family."""
    specs = (getattr(m, "OUTBOUND", None) for m in _modules())
    return {s.family: s for s in specs if isinstance(s, Outbound)}


def senders() -> dict[str, Sender]:
    """Every sending side, built-in and registered, by family."""
    return {**builtin_outbound(), **_registered_outbound}


def sender_for(platform: str) -> Sender | None:
    """The sending side of the chats (org.yaml `platform:`) or messages (Incoming.platform) of
    `platform`: the family that lists it, else the one that can @-mention its users (a
    one-to-one-only app's messages are answered by its family's sender); None when none."""
    found = senders()
    for spec in found.values():
        if platform in spec.platforms:
            return spec
    for spec in found.values():
        if platform in spec.mentionable:
            return spec
    return None


def chat_platforms() -> dict[str, Sender]:
    """The org.yaml `platform:` values a chat may name, with the sender that serves them."""
    return {p: spec for spec in senders().values() for p in spec.platforms}


def outbound(family: str) -> Sender:
    """The sending side of a family; ValueError for one nobody declared (never another
    platform's cool-down or mention rules by default)."""
    spec = _registered_outbound.get(family) or builtin_outbound().get(family)
    if spec is None:
        raise ValueError(f"no platform declares the outbound family {family!r}")
    return spec


def register_outbound(spec: Sender) -> None:
    """Add the sending side of a platform defined outside bot/platforms/."""
    if spec.family in builtin_outbound():
        raise ValueError(f"{spec.family!r} is a built-in platform family")
    _registered_outbound[spec.family] = spec


def unregister_outbound(family: str) -> None:
    _registered_outbound.pop(family, None)


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

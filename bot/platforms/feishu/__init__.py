"""Feishu (Lark): the app bot's HTTP event subscription in (inbound), its replies and pushes
through the message API and custom group bots out (bodies, outbound), and their crypto."""

from bot.config import Settings
from bot.platforms.feishu.inbound import Feishu
from bot.platforms.feishu.sender import OUTBOUND

__all__ = ["OUTBOUND", "Feishu", "adapter"]


def adapter(settings: Settings) -> Feishu | None:
    """The event hook when the app is configured with its verification token
    (bot/platforms/registry.py); in ws mode without one, events come only over the WebSocket."""
    return Feishu(settings) if settings.feishu_hook_enabled else None

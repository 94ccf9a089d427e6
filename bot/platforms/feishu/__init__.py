"""Feishu (Lark): the app bot's HTTP event subscription in (inbound), its replies and pushes
through the message API and custom group bots out (bodies, outbound), and their crypto."""

from bot.config import Settings
from bot.platforms.base import Outbound
from bot.platforms.feishu.inbound import Feishu

__all__ = ["OUTBOUND", "Feishu", "adapter"]

# Feishu limits per minute (and per second); its own x-ogw-ratelimit-reset wins when sent.
OUTBOUND = Outbound(
    family="feishu",
    cooldown_s=lambda settings: settings.cooldown_feishu_s,
    mentionable=("feishu",),
)


def adapter(settings: Settings) -> Feishu | None:
    """The event hook when the app is configured with its verification token
    (bot/platforms/registry.py); in ws mode without one, events come only over the WebSocket."""
    return Feishu(settings) if settings.feishu_hook_enabled else None

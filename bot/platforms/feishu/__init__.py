"""Feishu (Lark): the app bot's HTTP event subscription in (inbound), its replies and pushes
through the message API and custom group bots out (bodies, outbound), and their crypto."""

from bot.platforms.feishu.inbound import Feishu

__all__ = ["Feishu"]

"""Platform adapters: signed HTTP in -> Incoming, Reply -> platform body. They translate, never decide."""

from bot.platforms.base import MalformedError, Platform, SignatureError
from bot.platforms.registry import platforms_for

__all__ = ["MalformedError", "Platform", "SignatureError", "platforms_for"]

"""Platform adapters: signed HTTP in -> Incoming, Reply -> platform body. They translate, never decide."""

from bot.platforms.base import MalformedError, Platform, SignatureError, platforms_for

__all__ = ["MalformedError", "Platform", "SignatureError", "platforms_for"]

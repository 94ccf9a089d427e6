"""Generated files stored for download at /exports/<token>."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from bot.store.base import Area, _s, iso

_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


class Exports(Area):
    """Generated files stored for download at /exports/<token>."""

    def put(
        self,
        name: str,
        data: bytes,
        ttl: int = 7 * 86400,
        *,
        department: str = "",
        kind: str = "",
        actor: str = "system:export",
    ) -> str:
        """Store a generated file for download; returns its token. ttl=0 keeps it for good."""
        token = secrets.token_urlsafe(18)
        now = self.clock()
        at = iso(now)
        expires = iso(now + timedelta(seconds=ttl)) if ttl else ""
        key = self.keys.export(token)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(
            key,
            mapping={
                "name": name,
                "department": department,
                "kind": kind,
                "size": str(len(data)),
                "at": at,
                "expires": expires,
                "data": data,
            },
        )
        if ttl:
            pipe.expire(key, ttl)
        pipe.zadd(self.keys.exports, {token: int(now.timestamp() * 1000)})
        self._add_audit(
            pipe, at=at, actor=actor, action="export", department=department, after=token, note=name
        )
        pipe.execute()
        return token

    def get(self, token: str) -> tuple[str, bytes] | None:
        """(file name, bytes) of a stored export, or None when unknown or expired."""
        if not _TOKEN.fullmatch(token or ""):
            return None
        name, data = self.r.hmget(self.keys.export(token), ["name", "data"])
        if name is None or data is None:
            return None
        return _s(name), data if isinstance(data, bytes) else data.encode()

    def list(self, department: str | None = None, limit: int = 200) -> list[dict]:
        """Stored exports, newest first: token, name, department, kind, size, created_at,
        expires_at ("" = kept). Entries whose file has expired are dropped from the index."""
        tokens = [_s(t) for t in self.r.zrevrange(self.keys.exports, 0, max(limit, 1) * 4 - 1)]
        if not tokens:
            return []
        fields = ["name", "department", "kind", "size", "at", "expires"]
        pipe = self.r.pipeline(transaction=False)
        for t in tokens:
            pipe.hmget(self.keys.export(t), fields)
        out, gone = [], []
        for t, vals in zip(tokens, pipe.execute(), strict=True):
            if vals[0] is None:
                gone.append(t)
                continue
            name, dept, kind, size, at, expires = (_s(v) for v in vals)
            if department is not None and dept != department:
                continue
            out.append(
                {
                    "token": t,
                    "name": name,
                    "department": dept,
                    "kind": kind,
                    "size": int(size or 0),
                    "created_at": at,
                    "expires_at": expires,
                }
            )
        if gone:
            self.r.zrem(self.keys.exports, *gone)
        return out[:limit]

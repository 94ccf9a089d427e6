"""报送: numbered frozen copies of a department's catalogue, and their files and mail state."""

from __future__ import annotations

import json

from bot.messages import Notice
from bot.progress import Assignment
from bot.store.assignments import _star_map
from bot.store.base import Area, _notice_args, _s


class Submissions(Area):
    """报送: numbered frozen copies of a department's catalogue, and their files and mail state."""

    def submit(
        self,
        department: str,
        actor: str,
        notice: Notice,
        name: str = "",
        claim: tuple[str, str] | None = None,
    ) -> tuple[int, str]:
        """Freeze the department's catalogue as the next numbered version; returns (version, at).

        One script INCRs the version, copies the stored assignments and the office's ★ toggles,
        records the submission with who sent it (`name`, for the authenticity statement),
        appends the audit entry and queues `notice` ("@VERSION@" in its text becomes the number).
        """
        k = self.keys
        at = self.now_iso()
        v = self._script("submit_catalog")(
            keys=[
                k.dept(department),
                k.submission_seq(department),
                k.submissions(department),
                k.submitted,
                k.audit,
                k.outbox,
                k.stars,
                self._seen_of(claim),
            ],
            args=[department, at, actor, *_notice_args([notice], at), name],
        )
        return int(v), at

    def get(self, department: str, version: int) -> dict | None:
        """A frozen submission: version, at, actor, department, assignments {id: Assignment}."""
        if version < 1:
            return None
        raw = self.r.lindex(self.keys.submissions(department), version - 1)
        if not raw:
            return None
        d = json.loads(raw)
        items = d.get("assignments") or {}
        d["assignments"] = {
            int(i): Assignment.from_json(int(i), department, v) for i, v in items.items()
        }
        stars = d.get("stars")
        # an empty Lua table encodes as [] ; an older submission has no stars at all (None)
        d["stars"] = _star_map(stars) if isinstance(stars, dict) else ({} if stars == [] else None)
        return d

    def of_department(self, department: str) -> list[dict]:
        """Every submission of a department (oldest first) without the frozen copy, with files."""
        pipe = self.r.pipeline(transaction=False)
        pipe.lrange(self.keys.submissions(department), 0, -1)
        pipe.hgetall(self.keys.submission_files(department))
        rows, files = pipe.execute()
        meta = {int(_s(f)): json.loads(v) for f, v in files.items()}
        out = []
        for raw in rows:
            d = json.loads(raw)
            d.pop("assignments", None)
            d.pop("stars", None)
            d.update(meta.get(int(d["version"]), {}))
            out.append(d)
        return out

    def latest(self) -> dict[str, dict]:
        """dept -> {version, at} of its latest submission (one HGETALL)."""
        return {_s(d): json.loads(v) for d, v in self.r.hgetall(self.keys.submitted).items()}

    def update_files(
        self, department: str, version: int, changes: dict, actor: str, action: str
    ) -> dict:
        """Merge `changes` (file tokens, mail state) into a submission's record, audited."""
        k = self.keys
        merged = self._script("merge_submission_files")(
            keys=[k.submission_files(department), k.audit],
            args=[
                str(version),
                json.dumps(changes, ensure_ascii=False),
                self.now_iso(),
                actor,
                action,
                department,
            ],
        )
        return json.loads(merged)

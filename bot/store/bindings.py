"""Who acts for which department: bindings, 绑定 requests waiting for the office, the folding
of a person's quick changes into one notice, and the 'acts here' marks of department groups."""

from __future__ import annotations

from bot.messages import Notice
from bot.records import Binding, ConflictError
from bot.store.base import Area, _notice_args, _s

CHAT_MEMBER_TTL = 400 * 86400  # "you act for this department here" is said once a campaign


class Bindings(Area):
    """Who acts for which department: bindings, 绑定 requests waiting for the office, the folding
    of a person's quick changes into one notice, and the 'acts here' marks of department groups."""

    def get(self, platform: str, user_id: str) -> Binding | None:
        raw = self.r.hget(self.keys.bindings, f"{platform}:{user_id}")
        return Binding.from_json(platform, user_id, raw) if raw else None

    def campaign_choice(self, platform: str, user_id: str, choose: str | None = None) -> str:
        """The campaign a person chose (切换) for their one-to-one chat, "" when none; with
        `choose`, remember that one instead (a deployment key: bot.campaigns.Campaigns)."""
        key = self.keys.campaign_choice(platform, user_id)
        if choose is not None:
            self.r.set(key, choose)
            return choose
        return _s(self.r.get(key))

    def all(self) -> list[Binding]:
        out = []
        for f, v in self.r.hgetall(self.keys.bindings).items():
            platform, _, user = _s(f).partition(":")
            out.append(Binding.from_json(platform, user, v))
        return out

    def set(
        self,
        platform: str,
        user_id: str,
        before: Binding | None,
        after: Binding | None,
        actor: str,
        notices: tuple[Notice, ...] = (),
        fold_s: int = 0,
        name: str = "",
        claim: tuple[str, str] | None = None,
    ) -> bool:
        """Change one binding (compare-and-set, audited) and queue its notices. With `fold_s`,
        a person's changes within `fold_s` seconds of an announced one queue nothing: they are
        counted (under `name`) and told in one summary when the window ends (take_folds).
        Returns False when the notices were folded. `claim`: the (platform, message id) of the
        callback this commits, kept for the dedupe window in the same step."""
        k = self.keys
        at = self.now_iso()
        dept = (after or before).department if (after or before) else ""
        person = f"{platform}:{user_id}"
        ok = self._script("set_binding")(
            keys=[
                k.bindings,
                k.audit,
                k.outbox,
                k.binding_fold(person),
                k.binding_folds,
                self._seen_of(claim),
                k.fill_link_of(person),
                k.fill_link_prefix,
            ],  # fmt: skip
            args=[
                person,
                before.to_json() if before else "",
                after.to_json() if after else "",
                at,
                actor,
                "bind" if after else "unbind",
                dept,
                fold_s * 1000,
                name,
                str(len(notices)),
                *_notice_args(notices, at),
            ],
        )
        if not ok:
            raise ConflictError(f"binding {platform}:{user_id}")
        return ok == 1

    def requests(self) -> list[tuple[Binding, str]]:
        """The 绑定 requests waiting for the office: (the binding asked for, its stored JSON)."""
        out = []
        for f, v in self.r.hgetall(self.keys.bind_requests).items():
            platform, _, user = _s(f).partition(":")
            out.append((Binding.from_json(platform, user, v), _s(v)))
        return out

    def request(self, platform: str, user_id: str) -> tuple[Binding | None, str]:
        raw = _s(self.r.hget(self.keys.bind_requests, f"{platform}:{user_id}"))
        return (Binding.from_json(platform, user_id, raw), raw) if raw else (None, "")

    def decide_request(
        self,
        platform: str,
        user_id: str,
        expected: str,
        request: Binding | None,
        action: str,
        actor: str,
        *,
        department: str,
        bind: tuple[Binding | None, Binding] | None = None,
        note: str = "",
        notices: tuple[Notice, ...] = (),
        claim: tuple[str, str] | None = None,
    ) -> None:
        """Ask for a binding (`request`), or settle the request `expected` (its stored JSON): with
        `bind` (the binding as it is, the new one) it is approved in the same step; audited under
        `action`, with its notices queued. ConflictError when either changed meanwhile."""
        k = self.keys
        at = self.now_iso()
        before, after = bind if bind else (None, None)
        ok = self._script("bind_request")(
            keys=[k.bind_requests, k.bindings, k.audit, k.outbox, self._seen_of(claim)],
            args=[
                f"{platform}:{user_id}",
                expected,
                request.to_json() if request else "",
                before.to_json() if before else "",
                after.to_json() if after else "",
                at,
                actor,
                action,
                department,
                note,
                str(len(notices)),
                *_notice_args(notices, at),
            ],
        )
        if not ok:
            raise ConflictError(f"binding request {platform}:{user_id}")

    def take_folds(self, count: int = 200) -> list[tuple[str, dict[str, str]]]:
        """(person "platform:user", fold) of every fold whose window has ended, removed as they
        are taken: {"n": changes folded, "name", "until": epoch ms, "d:<department>": "1"}."""
        k = self.keys
        res = self._script("take_folds")(keys=[k.binding_folds, k.binding_fold("")], args=[count])
        out = []
        for i in range(0, len(res), 2):
            flat = res[i + 1]
            out.append((_s(res[i]), {_s(flat[j]): _s(flat[j + 1]) for j in range(0, len(flat), 2)}))
        return out

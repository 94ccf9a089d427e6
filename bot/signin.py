"""Optional sign-in through the platform for the fill-in page (/m/signin): the person signs in
with DingTalk, WeCom or Feishu (OAuth 2.0 authorization code), we learn their user id as the
robot callbacks carry it, look up their binding and hand them the same signed link 填报 gives
(bot/filllinks.py). The signed link works without any of this; DUBAN_SIGNIN_PLATFORMS turns it on.

Framework-free: the web (bot/web/signin.py) passes in the HTTP session and a `token(family)`
that gives the app's access token (cached as bot/delivery.py caches it for the workers).

The state parameter is ours, signed with the link key: a random nonce (also kept in the
browser's session cookie, so that a callback started in another browser is refused: login
CSRF), the instant it expires, and an HMAC over platform, nonce and expiry. It is letters and
digits only, as WeCom requires of `state` (a-zA-Z0-9, at most 128 bytes).

Where each platform says who signed in, and how that maps to the robot's user id:
- WeCom (企业微信网页授权, snsapi_base): the code gives `userid`, the member's id in the corp,
  which is what both the smart bot (`from.userid`) and the self-built app (`FromUserName`) carry.
- DingTalk (login.dingtalk.com/oauth2/auth): the code gives a user access token, the token the
  person's `unionId` (/v1.0/contact/users/me); the unionId gives the org `userid`
  (topapi/user/getbyunionid), which is the robot's `senderStaffId`.
- Feishu (accounts.feishu.cn/open-apis/authen/v1/authorize): the code gives a user access
  token (authen/v2/oauth/token), the token the user's `open_id` for this app (authen/v1/user_info),
  which is what the app's message events carry (`sender_id.open_id`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from bot.filllinks import base36

PLATFORMS = ("dingtalk", "wecom", "feishu")
LABELS = {"dingtalk": "钉钉", "wecom": "企业微信", "feishu": "飞书"}
STATE_TTL_S = 600  # the platforms' codes live 5 minutes; a sign-in is done well within 10
TIMEOUT = (3.05, 10.0)
_NONCE_HEX = 32
_SIG_HEX = 32


class Refused(Exception):
    """Why a sign-in ends without a link. `kind` names the page shown (bot/web/signin.py):
    tampered, expired, used, elsewhere (another browser started it), denied (the person said no
    on the platform's page), code (the platform refused the code), unavailable (the platform
    did not answer), not_member (the platform knows no member of the organisation)."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


# --- state --------------------------------------------------------------------------------------


def _state_sig(key: str, platform: str, nonce: str, exp36: str) -> str:
    body = f"signin-state|{platform}|{nonce}|{exp36}".encode()
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()[:_SIG_HEX]


def new_nonce() -> str:
    return secrets.token_hex(_NONCE_HEX // 2)


def make_state(key: str, platform: str, nonce: str, now_s: float) -> str:
    """nonce (32 hex) + expiry (base 36) + signature (32 hex): letters and digits only."""
    exp36 = base36(int(now_s) + STATE_TTL_S)
    return f"{nonce}{exp36}{_state_sig(key, platform, nonce, exp36)}"


def read_state(key: str, platform: str, state: str, now_s: float) -> str:
    """The nonce of a well-signed, unexpired state for `platform`; Refused otherwise."""
    if not (state.isascii() and state.isalnum()) or len(state) <= _NONCE_HEX + _SIG_HEX:
        raise Refused("tampered", "state malformed")
    nonce, exp36, sig = state[:_NONCE_HEX], state[_NONCE_HEX:-_SIG_HEX], state[-_SIG_HEX:]
    if not hmac.compare_digest(sig, _state_sig(key, platform, nonce, exp36)):
        raise Refused("tampered", "state signature")
    if int(exp36, 36) <= now_s:
        raise Refused("expired", "state expired")
    return nonce


# --- who signed in ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """Who the platform says signed in: the (platform, user id) pairs under which the robot
    callbacks may have bound them, most likely first, and the name the platform gave."""

    candidates: tuple[tuple[str, str], ...]
    name: str = ""


Token = Callable[[str], str]  # family ("dingtalk", "wecom_app") -> the app's access token


def _json(resp) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _call(what: str, send: Callable[[], Any]):
    """One request to the platform; a failure to reach it is `unavailable`."""
    try:
        return send()
    except Exception as e:  # requests' errors, a token that could not be fetched
        raise Refused("unavailable", f"{what}: {type(e).__name__}") from None


def _text(data: Mapping, *names: str) -> str:
    for n in names:
        v = data.get(n)
        if isinstance(v, str) and v:
            return v
    return ""


class WeCom:
    """企业微信网页授权 for a self-built app (snsapi_base: silent, inside WeCom).

    构造网页授权链接: https://developer.work.weixin.qq.com/document/path/91022
    获取访问用户身份 (cgi-bin/auth/getuserinfo): https://developer.work.weixin.qq.com/document/path/91023
    The app's access token (cgi-bin/gettoken with the corp id and the app Secret):
    https://developer.work.weixin.qq.com/document/path/91039
    """

    name = "wecom"
    token_family = "wecom_app"

    def __init__(self, settings) -> None:
        self.corp_id = settings.wecom_corp_id
        self.agent_id = settings.wecom_agent_id
        self.authorize_base = settings.wecom_authorize_base.rstrip("/")
        self.api_base = settings.wecom_api_base.rstrip("/")

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        query = {
            "appid": self.corp_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "snsapi_base",
            "state": state,
        }
        if self.agent_id:  # 建议填上 (91022); needed for other scopes only
            query["agentid"] = self.agent_id
        # "#wechat_redirect": the client uses it to decide to add the member's identity
        return f"{self.authorize_base}/connect/oauth2/authorize?{urlencode(query)}#wechat_redirect"

    @staticmethod
    def code_of(query: Mapping[str, str]) -> str:
        return query.get("code", "")

    def identify(self, http, token: Token, code: str) -> Person:
        access = _call("gettoken", lambda: token(self.token_family))
        resp = _call(
            "getuserinfo",
            lambda: http.get(
                f"{self.api_base}/cgi-bin/auth/getuserinfo",
                params={"access_token": access, "code": code},
                timeout=TIMEOUT,
            ),
        )
        data = _json(resp)
        if resp.status_code >= 500 or data.get("errcode") == -1:
            raise Refused("unavailable", f"getuserinfo HTTP {resp.status_code}")
        if data.get("errcode", -2) != 0:
            raise Refused("code", f"getuserinfo errcode {data.get('errcode')}")
        # documented as `userid`; the older user/getuserinfo answered `UserId`
        user_id = _text(data, "userid", "UserId")
        if not user_id:  # a non-member: `openid` / `external_userid` only
            raise Refused("not_member", "no userid")
        # the self-built app's and the smart bot's callbacks both carry the member's userid
        return Person((("wecom_app", user_id), ("wecom", user_id)))


class DingTalk:
    """DingTalk's web sign-in for an enterprise-internal app (the client id is the AppKey).

    获取登录用户的访问凭证 (login.dingtalk.com/oauth2/auth, the redirect's `authCode`):
    https://open.dingtalk.com/document/orgapp/obtain-identity-credentials
    获取用户token (POST /v1.0/oauth2/userAccessToken):
    https://open.dingtalk.com/document/orgapp/obtain-user-token
    获取用户通讯录个人信息 (GET /v1.0/contact/users/me, `unionId`):
    https://open.dingtalk.com/document/orgapp/dingtalk-retrieve-user-information
    根据unionid获取用户userid (POST topapi/user/getbyunionid, with the app's access token):
    https://open.dingtalk.com/document/orgapp/query-a-user-by-the-union-id
    """

    name = "dingtalk"
    token_family = "dingtalk"

    def __init__(self, settings) -> None:
        self.app_key = settings.dingtalk_app_key
        self.app_secret = settings.dingtalk_app_secret
        self.login_base = settings.dingtalk_login_base.rstrip("/")
        self.api_base = settings.dingtalk_api_base.rstrip("/")
        self.oapi_base = settings.dingtalk_oapi_base.rstrip("/")

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        query = {
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "client_id": self.app_key,
            "scope": "openid",
            "state": state,
            "prompt": "consent",
        }
        return f"{self.login_base}/oauth2/auth?{urlencode(query)}"

    @staticmethod
    def code_of(query: Mapping[str, str]) -> str:
        return query.get("authCode") or query.get("code", "")

    def identify(self, http, token: Token, code: str) -> Person:
        body = {
            "clientId": self.app_key,
            "clientSecret": self.app_secret,
            "code": code,
            "grantType": "authorization_code",
        }
        resp = _call(
            "userAccessToken",
            lambda: http.post(
                f"{self.api_base}/v1.0/oauth2/userAccessToken", json=body, timeout=TIMEOUT
            ),
        )
        data = _json(resp)
        if resp.status_code >= 500:
            raise Refused("unavailable", f"userAccessToken HTTP {resp.status_code}")
        user_token = _text(data, "accessToken")
        if resp.status_code != 200 or not user_token:
            raise Refused("code", f"userAccessToken HTTP {resp.status_code} {data.get('code')}")
        resp = _call(
            "users/me",
            lambda: http.get(
                f"{self.api_base}/v1.0/contact/users/me",
                headers={"x-acs-dingtalk-access-token": user_token},
                timeout=TIMEOUT,
            ),
        )
        me = _json(resp)
        union_id = _text(me, "unionId")
        if resp.status_code != 200 or not union_id:
            raise Refused("unavailable", f"users/me HTTP {resp.status_code}")
        access = _call("accessToken", lambda: token(self.token_family))
        resp = _call(
            "getbyunionid",
            lambda: http.post(
                f"{self.oapi_base}/topapi/user/getbyunionid",
                params={"access_token": access},
                json={"unionid": union_id},
                timeout=TIMEOUT,
            ),
        )
        found = _json(resp)
        if resp.status_code >= 500 or found.get("errcode") == -1:
            raise Refused("unavailable", f"getbyunionid HTTP {resp.status_code}")
        result = found.get("result")
        user_id = _text(result, "userid") if isinstance(result, dict) else ""
        if found.get("errcode") != 0 or not user_id:  # 60121: not a member of the org
            raise Refused("not_member", f"getbyunionid errcode {found.get('errcode')}")
        return Person((("dingtalk", user_id),), _text(me, "nick"))


class Feishu:
    """Feishu's web sign-in for a self-built app.

    获取授权码 (accounts.feishu.cn/open-apis/authen/v1/authorize):
    https://open.feishu.cn/document/authentication-management/access-token/obtain-oauth-code
    获取 user_access_token (POST /open-apis/authen/v2/oauth/token):
    https://open.feishu.cn/document/authentication-management/access-token/get-user-access-token
    获取用户信息 (GET /open-apis/authen/v1/user_info, `open_id`):
    https://open.feishu.cn/document/server-docs/authentication-management/login-state-management/get
    """

    name = "feishu"
    token_family = ""  # the OAuth token endpoint takes the app id and secret itself

    def __init__(self, settings) -> None:
        self.app_id = settings.feishu_app_id
        self.app_secret = settings.feishu_app_secret
        self.authorize_base = settings.feishu_authorize_base.rstrip("/")
        self.api_base = settings.feishu_api_base.rstrip("/")

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        query = {
            "client_id": self.app_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
        }
        return f"{self.authorize_base}/open-apis/authen/v1/authorize?{urlencode(query)}"

    @staticmethod
    def code_of(query: Mapping[str, str]) -> str:
        return query.get("code", "")

    def identify(self, http, token: Token, code: str, redirect_uri: str = "") -> Person:
        body = {
            "grant_type": "authorization_code",
            "client_id": self.app_id,
            "client_secret": self.app_secret,
            "code": code,
            # a web app must send the redirect_uri it authorized with, exactly
            "redirect_uri": redirect_uri,
        }
        resp = _call(
            "oauth/token",
            lambda: http.post(
                f"{self.api_base}/open-apis/authen/v2/oauth/token", json=body, timeout=TIMEOUT
            ),
        )
        data = _json(resp)
        if resp.status_code >= 500:
            raise Refused("unavailable", f"oauth/token HTTP {resp.status_code}")
        user_token = _text(data, "access_token")
        if data.get("code") != 0 or not user_token:  # 20003: not found (used), 20004: expired
            raise Refused("code", f"oauth/token code {data.get('code')}")
        resp = _call(
            "user_info",
            lambda: http.get(
                f"{self.api_base}/open-apis/authen/v1/user_info",
                headers={"Authorization": f"Bearer {user_token}"},
                timeout=TIMEOUT,
            ),
        )
        info = _json(resp)
        got = info.get("data") if isinstance(info.get("data"), dict) else {}
        open_id = _text(got, "open_id")
        if info.get("code") != 0 or not open_id:
            raise Refused("unavailable", f"user_info code {info.get('code')}")
        return Person((("feishu", open_id),), _text(got, "name"))


def app_token(settings, http, cached: Callable[[str, Callable[[], tuple[str, int]]], str]) -> Token:
    """`token(family)`: the app's access token for DingTalk or the WeCom self-built app, through
    `cached(name, fetch)` (bot.delivery.cached_token: the cache the workers share, under the
    same names and from the same endpoints, so both read one token).

    DingTalk 获取企业内部应用的accessToken:
    https://open.dingtalk.com/document/orgapp/obtain-the-access_token-of-an-internal-app
    WeCom 获取access_token: https://developer.work.weixin.qq.com/document/path/91039
    """

    def dingtalk() -> tuple[str, int]:
        resp = http.post(
            f"{settings.dingtalk_api_base.rstrip('/')}/v1.0/oauth2/accessToken",
            json={"appKey": settings.dingtalk_app_key, "appSecret": settings.dingtalk_app_secret},
            timeout=TIMEOUT,
        )
        data = _json(resp)
        token, expires = data.get("accessToken"), data.get("expireIn")
        if resp.status_code != 200 or not isinstance(token, str) or not isinstance(expires, int):
            raise Refused("unavailable", f"accessToken HTTP {resp.status_code}")
        return token, expires - 300

    def wecom_app() -> tuple[str, int]:
        resp = http.get(
            f"{settings.wecom_api_base.rstrip('/')}/cgi-bin/gettoken",
            params={"corpid": settings.wecom_corp_id, "corpsecret": settings.wecom_app_secret},
            timeout=TIMEOUT,
        )
        data = _json(resp)
        token, expires = data.get("access_token"), data.get("expires_in")
        if data.get("errcode", 0) != 0 or not isinstance(token, str) or not expires:
            raise Refused("unavailable", f"gettoken errcode {data.get('errcode')}")
        return token, int(expires) - 300

    fetchers = {"dingtalk": dingtalk, "wecom_app": wecom_app}
    return lambda family: cached(family, fetchers[family])


PROVIDERS = {"wecom": WeCom, "dingtalk": DingTalk, "feishu": Feishu}


def providers(settings) -> dict[str, Any]:
    """The providers DUBAN_SIGNIN_PLATFORMS turns on, in its order."""
    return {p: PROVIDERS[p](settings) for p in settings.signin_platforms if p in PROVIDERS}


def identify(provider, http, token: Token, code: str, redirect_uri: str) -> Person:
    if not code:
        raise Refused("code", "no code in the callback")
    if isinstance(provider, Feishu):
        return provider.identify(http, token, code, redirect_uri)
    return provider.identify(http, token, code)


def binding_of(bindings, person: Person):
    """The person's binding among their candidate ids: the most recent one when the robot
    callbacks bound them under more than one (a WeCom member in the app and the smart bot)."""
    found = [b for p, u in person.candidates if (b := bindings.get(p, u)) is not None]
    if not found:
        return None
    return max(found, key=lambda b: b.bound_at or "")

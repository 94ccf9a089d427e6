"""Downloading a file or picture sent to the bot in chat (bot/chatfiles.py), in a worker.

- DingTalk: the robot's message file download API turns the message's downloadCode into a
  short-lived URL (POST /v1.0/robot/messageFiles/download with the app's access token,
  https://open.dingtalk.com/document/orgapp/download-the-file-content-of-the-robot-receiving-message),
  which is then fetched.
- WeCom smart bot: the message's URL (valid five minutes) serves the content encrypted with the
  bot's EncodingAESKey, AES-256-CBC with IV = the key's first 16 bytes and PKCS#7 padding to 32
  bytes (https://developer.work.weixin.qq.com/document/path/100719); a file's name comes in the
  response's Content-Disposition.
- WeCom self-built app: media/get with the app's access token (gettoken with the corp id and the
  app's Secret, https://developer.work.weixin.qq.com/document/path/91039) serves the file by its
  MediaId (https://developer.work.weixin.qq.com/document/path/90254), its name in
  Content-Disposition; an error comes as JSON.
- Feishu: the message resource API with the app's tenant access token
  (GET /open-apis/im/v1/messages/:message_id/resources/:file_key?type=image|file,
  https://open.feishu.cn/document/uAjLw4CM/ukTMukTMukTM/reference/im-v1/message-resource/get)
  serves the picture or file, its name in Content-Disposition; an error comes as JSON
  `{"code", "msg"}`, and a refused token is dropped so the next try fetches a new one.

A download reads at most the file store's limit (plus the padding of an encrypted one): a larger
file is refused without being read whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.chatfiles import Attachment
from bot.config import Settings
from bot.platforms.base import encode_json
from bot.platforms.feishu import outbound as feishu
from bot.platforms.wecom.crypto import decode_aes_key

TIMEOUT = (3.05, 30.0)
WECOM_PAD = 32


class FetchFailed(Exception):
    """The platform did not give the file (an error answer, a timeout): worth another try.
    `code` is the error code of a JSON error answer, when it gave one."""

    def __init__(self, message: str, code: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code


class StaleToken(FetchFailed):
    """The platform refused the access token: drop `token` of `family`, and try again."""

    def __init__(self, family: str, token: str, code: int | str | None) -> None:
        super().__init__(f"{family} refused the access token (code {code})", code)
        self.family, self.token = family, token


class TooLarge(Exception):
    """The file is larger than the file store takes."""


@dataclass(frozen=True)
class Fetched:
    data: bytes
    name: str  # "" when the platform named it nowhere


def fetch(
    att: Attachment,
    settings: Settings,
    http: requests.Session,
    max_bytes: int,
    token: Callable[[str], str],
) -> Fetched:
    """The file `att` names, read whole. `token(family)` gives the platform's access token
    ("dingtalk", "wecom_app", "feishu"), cached by the caller."""
    if att.source == "dingtalk":
        url = _dingtalk_url(att, settings, http, token("dingtalk"))
        data, name = _get(http, url, max_bytes)
        return Fetched(data, att.name or name)
    if att.source == "wecom":
        data, name = _get(http, att.ref, max_bytes + WECOM_PAD)
        key = _wecom_key(att, settings)
        return Fetched(decrypt_media(data, key), att.name or name)
    if att.source == "wecom_app":
        base = settings.wecom_api_base.rstrip("/")
        url = f"{base}/cgi-bin/media/get"
        params = {"access_token": token("wecom_app"), "media_id": att.ref}
        data, name = _get(http, url, max_bytes, params=params, json_errors=True)
        return Fetched(data, att.name or name)
    if att.source == "feishu":
        return _feishu(att, settings, http, max_bytes, token("feishu"))
    raise FetchFailed(f"unknown source {att.source!r}")


def _feishu(att: Attachment, settings: Settings, http, max_bytes: int, token: str) -> Fetched:
    if not att.message_id:
        raise FetchFailed("a Feishu resource without its message id")
    url = feishu.resource_url(settings.feishu_api_base, att.message_id, att.ref)
    params = {"type": "image" if att.kind == "image" else "file"}
    headers = {"Authorization": f"Bearer {token}"}
    try:
        data, name = _get(http, url, max_bytes, params=params, json_errors=True, headers=headers)
    except FetchFailed as e:
        if e.code in feishu.TOKEN_INVALID:
            raise StaleToken("feishu", token, e.code) from None
        raise
    return Fetched(data, att.name or name)


def _dingtalk_url(att: Attachment, settings: Settings, http, token: str) -> str:
    base = settings.dingtalk_api_base.rstrip("/")
    body = {"downloadCode": att.ref, "robotCode": att.robot_code or settings.dingtalk_robot_code}
    try:
        resp = http.post(
            f"{base}/v1.0/robot/messageFiles/download",
            data=encode_json(body),
            headers={"Content-Type": "application/json", "x-acs-dingtalk-access-token": token},
            timeout=TIMEOUT,
        )
        answer = resp.json()
    except (requests.RequestException, ValueError) as e:
        raise FetchFailed(f"messageFiles/download: {type(e).__name__}") from None
    url = answer.get("downloadUrl") if isinstance(answer, dict) else None
    if resp.status_code != 200 or not isinstance(url, str) or not url:
        code = answer.get("code") if isinstance(answer, dict) else ""
        raise FetchFailed(f"messageFiles/download: HTTP {resp.status_code} {code}")
    return url


def _wecom_key(att: Attachment, settings: Settings) -> bytes:
    """The message's own key (long connection), else the bot's EncodingAESKey."""
    if att.aes_key:
        import base64

        key = base64.b64decode(att.aes_key + "=" * (-len(att.aes_key) % 4))
        if len(key) != 32:
            raise FetchFailed("the message's aeskey is not 32 bytes")
        return key
    return decode_aes_key(settings.wecom_aes_key)


def decrypt_media(data: bytes, key: bytes) -> bytes:
    """AES-256-CBC with IV = key[:16], then PKCS#7 padding of 1..32 bytes removed."""
    if not data or len(data) % 16:
        raise FetchFailed("encrypted media is not a whole number of AES blocks")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = dec.update(data) + dec.finalize()
    n = plain[-1]
    if not 1 <= n <= WECOM_PAD or plain[-n:] != bytes([n]) * n:
        raise FetchFailed("encrypted media has bad padding (not our key?)")
    return plain[:-n]


def encrypt_media(data: bytes, key: bytes) -> bytes:
    """The inverse of decrypt_media (what the platform serves; the stub server uses it)."""
    n = WECOM_PAD - len(data) % WECOM_PAD
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return enc.update(data + bytes([n]) * n) + enc.finalize()


def _get(
    http,
    url: str,
    max_bytes: int,
    params: dict | None = None,
    json_errors: bool = False,
    headers: dict | None = None,
) -> tuple[bytes, str]:
    """GET `url` streamed, at most `max_bytes` read (TooLarge beyond), with the file name its
    Content-Disposition gives. With `json_errors`, an answer that is JSON is an error, its
    `errcode` or `code` kept on the FetchFailed."""
    try:
        with http.get(url, params=params, headers=headers, stream=True, timeout=TIMEOUT) as resp:
            if resp.status_code != 200:
                code = _error_code(resp) if json_errors else None
                raise FetchFailed(f"download: HTTP {resp.status_code} code {code}", code)
            kind = resp.headers.get("Content-Type", "")
            length = resp.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise TooLarge(int(length))
            chunks, got = [], 0
            for chunk in resp.iter_content(65536):
                got += len(chunk)
                if got > max_bytes:
                    raise TooLarge(got)
                chunks.append(chunk)
            data = b"".join(chunks)
            name = filename_of(resp.headers.get("Content-Disposition", ""))
    except requests.RequestException as e:
        raise FetchFailed(f"download: {type(e).__name__}") from None
    if json_errors and ("json" in kind or "text/plain" in kind) and data[:1] == b"{":
        raise FetchFailed(f"download refused: {data[:120]!r}", _code_of(data))
    return data, name


def _error_code(resp) -> int | str | None:
    """The code of a short JSON error answer, or None."""
    try:
        return _code_of(resp.raw.read(4096, decode_content=True))
    except Exception:  # an error answer we cannot read has no code
        return None


def _code_of(data: bytes) -> int | str | None:
    try:
        d = json.loads(data)
    except ValueError:
        return None
    return d.get("errcode", d.get("code")) if isinstance(d, dict) else None


_STAR = re.compile(r"filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)")
_PLAIN = re.compile(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"|filename\s*=\s*([^;]+)')


def filename_of(disposition: str) -> str:
    """The file name a Content-Disposition gives (RFC 6266: filename* first), as given ("" when
    there is none): one that reads as a path is refused by filestore.check_name."""
    m = _STAR.search(disposition)
    if m:
        name = unquote(m.group(1).strip().strip('"'), errors="replace")
    else:
        m = _PLAIN.search(disposition)
        if not m:
            return ""
        name = (m.group(1) if m.group(1) is not None else m.group(2)).strip()
        try:  # servers send UTF-8 bytes, which HTTP libraries read as Latin-1
            name = name.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name

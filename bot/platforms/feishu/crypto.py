"""Feishu's two signatures and its event encryption: the `X-Lark-Signature` of an event callback,
AES-256-CBC of event bodies under the app's Encrypt Key, and the custom group bot's `sign`.

Event callbacks ("步骤三：接收事件", https://open.feishu.cn/document/ukTMukTMukTM/uYDNxYjL2QTM24iN0EjN/event-subscription-configure-/encrypt-key-encryption-configuration-case):
signature = hex(sha256(timestamp + nonce + encrypt_key + raw body)); the body {"encrypt": b64}
holds base64(iv ‖ AES-256-CBC(PKCS#7)) with key = sha256(encrypt_key) and a random 16-byte iv.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.platforms.base import MalformedError, SignatureError
from bot.platforms.wecom.crypto import pkcs7_pad, pkcs7_unpad

BLOCK = 16  # Feishu pads to the AES block size (WeCom pads to 32)


def aes_key(encrypt_key: str) -> bytes:
    """The AES-256 key: sha256 of the Encrypt Key as configured in the console."""
    return hashlib.sha256(encrypt_key.encode("utf-8")).digest()


def encrypt_event(encrypt_key: str, plaintext: str | bytes, iv: bytes | None = None) -> str:
    """base64(iv ‖ ciphertext), the `encrypt` value of an event body. `iv` is for reproducing
    test vectors; Feishu (and production use) draws it at random."""
    data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
    iv = os.urandom(BLOCK) if iv is None else iv
    if len(iv) != BLOCK:
        raise ValueError("iv must be 16 bytes")
    encryptor = Cipher(algorithms.AES(aes_key(encrypt_key)), modes.CBC(iv)).encryptor()
    return base64.b64encode(
        iv + encryptor.update(pkcs7_pad(data, BLOCK)) + encryptor.finalize()
    ).decode()


def decrypt_event(encrypt_key: str, encrypt: str) -> str:
    """The plaintext of an event's `encrypt` value.

    MalformedError: not base64, not an iv and whole blocks, or not UTF-8.
    SignatureError: the padding is wrong, i.e. it was not encrypted under our key.
    """
    try:
        raw = base64.b64decode(encrypt, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError("encrypt is not base64") from None
    if len(raw) < 2 * BLOCK or len(raw) % BLOCK:
        raise MalformedError("encrypt is not an iv and whole AES blocks")
    decryptor = Cipher(algorithms.AES(aes_key(encrypt_key)), modes.CBC(raw[:BLOCK])).decryptor()
    padded = decryptor.update(raw[BLOCK:]) + decryptor.finalize()
    try:
        plain = pkcs7_unpad(padded, BLOCK)
    except ValueError:
        raise SignatureError("encrypt does not decrypt under our Encrypt Key") from None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("decrypted event is not UTF-8") from None


def event_signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """hex(sha256(timestamp + nonce + encrypt_key + body)): the raw body bytes, not re-encoded."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


def check_event_signature(
    signature: str, timestamp: str, nonce: str, encrypt_key: str, body: bytes
) -> None:
    expected = event_signature(timestamp, nonce, encrypt_key, body).encode("ascii")
    if not hmac.compare_digest(expected, signature.strip().lower().encode("utf-8")):
        raise SignatureError("X-Lark-Signature mismatch")


def custom_bot_sign(secret: str, timestamp_s: int | str) -> str:
    """The custom group bot's `sign`: base64(HmacSHA256(key = timestamp + "\\n" + secret, message
    = empty)), with the timestamp in seconds; not DingTalk's form, whose key is the secret
    ("自定义机器人使用指南", https://open.feishu.cn/document/ukTMukTMukTM/ucTM5YjL3ETO24yNxkjN).
    """
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")

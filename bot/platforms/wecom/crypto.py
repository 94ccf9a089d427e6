"""WeCom callback crypto (WXBizMsgCrypt equivalent) on `cryptography`: AES-256-CBC with strict
32-byte PKCS#7, the random‖length‖msg‖receiveid layout, and the sorted-SHA1 signature.

Vendor documents: 加解密方案说明 (https://developer.work.weixin.qq.com/document/path/90968)
and, for the smart bot, 回调和回复的加解密方案 (https://developer.work.weixin.qq.com/document/path/101033).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.platforms.base import MalformedError, SignatureError

BLOCK = 32  # WeCom pads to 32 bytes, not the AES block size (加解密方案说明)
_RANDOM_ALPHABET = string.ascii_letters + string.digits


def sha1_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """hex(sha1(concat(sorted([token, timestamp, nonce, encrypt])))), a plain string sort
    (加解密方案说明)."""
    parts = sorted([token, timestamp, nonce, encrypt])
    return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()


def pkcs7_pad(data: bytes, block: int = BLOCK) -> bytes:
    n = block - len(data) % block  # 1..block: a full block when already aligned
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes, block: int = BLOCK) -> bytes:
    """Strict unpadding: pad length 1..block and every pad byte equal to it.

    wechatpy and Tencent's sample both trust the last byte blindly; we do not.
    """
    if not data or len(data) % block:
        raise ValueError("data is not a whole number of blocks")
    n = data[-1]
    if not 1 <= n <= block or data[-n:] != bytes([n]) * n:
        raise ValueError("bad padding")
    return data[:-n]


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """AESKey = base64decode(EncodingAESKey + "="): 43 characters give 32 bytes (加解密方案说明)."""
    if len(encoding_aes_key) != 43:
        raise ValueError("an EncodingAESKey has 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise ValueError("EncodingAESKey is not base64") from None
    if len(key) != 32:
        raise ValueError("EncodingAESKey does not decode to 32 bytes")
    return key


class WeComCrypto:
    """One callback configuration: Token, EncodingAESKey and the expected receiveid.

    receiveid is the corp id for self-built apps and "" for an internal smart bot (回调和回复的加解密方案).
    """

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self.token = token
        self.key = decode_aes_key(encoding_aes_key)
        self.iv = self.key[:16]  # IV = first 16 bytes of the key (加解密方案说明)
        self.receive_id = receive_id.encode("utf-8")

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return sha1_signature(self.token, timestamp, nonce, encrypt)

    def check_signature(self, signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """Raise SignatureError unless `signature` signs (timestamp, nonce, encrypt)."""
        expected = self.sign(timestamp, nonce, encrypt).encode("ascii")
        if not hmac.compare_digest(expected, signature.encode("utf-8")):
            raise SignatureError("msg_signature mismatch")

    def encrypt(self, plaintext: str | bytes, random_prefix: bytes | None = None) -> str:
        """Base64 ciphertext of random(16) ‖ len(4, big-endian) ‖ msg ‖ receiveid.

        `random_prefix` is for reproducing test vectors; in production it is 16 random letters
        and digits, like wechatpy's.
        """
        msg = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        if random_prefix is None:
            random_prefix = "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(16)).encode()
        if len(random_prefix) != 16:
            raise ValueError("random_prefix must be 16 bytes")
        raw = random_prefix + struct.pack(">I", len(msg)) + msg + self.receive_id
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        ciphertext = encryptor.update(pkcs7_pad(raw)) + encryptor.finalize()
        return base64.b64encode(ciphertext).decode("ascii")

    def decrypt(self, encrypt: str) -> str:
        """The plaintext message of `encrypt`.

        MalformedError: not base64 or not whole 32-byte blocks, or the message is not UTF-8.
        SignatureError: bad padding, inconsistent length or another receiveid, i.e. not a
        message encrypted for us.
        """
        try:
            ciphertext = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedError("encrypt is not base64") from None
        if not ciphertext or len(ciphertext) % BLOCK:
            # WeCom pads to 32, so anything else was never a WeCom ciphertext.
            raise MalformedError("ciphertext is not a whole number of 32-byte blocks")
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        try:
            raw = pkcs7_unpad(padded)
        except ValueError:
            raise SignatureError("ciphertext does not decrypt under our key") from None
        if len(raw) < 20:
            raise SignatureError("decrypted message too short")
        (length,) = struct.unpack(">I", raw[16:20])
        if length > len(raw) - 20:
            raise SignatureError("decrypted length field out of range")
        msg, receive_id = raw[20 : 20 + length], raw[20 + length :]
        if receive_id != self.receive_id:
            raise SignatureError("message is for another receiveid")
        try:
            return msg.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("decrypted message is not UTF-8") from None

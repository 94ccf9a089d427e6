"""bot/filefetch.py's pure parts: WeCom media decryption (against ciphertext built with
`cryptography` directly, PKCS#7 to 32 bytes, including a full 32-byte pad) and file names from
Content-Disposition as the platforms' CDNs send them."""

from __future__ import annotations

import pytest

from bot.filefetch import FetchFailed, decrypt_media, filename_of
from bot.platforms.wecom.crypto import decode_aes_key
from tests.http.callbacks import WECOM_AES_KEY, wecom_media

KEY = decode_aes_key(WECOM_AES_KEY)


@pytest.mark.parametrize("size", [0, 1, 31, 32, 33, 64, 1000])
def test_media_decrypts_whatever_its_padding(size):
    data = bytes(range(256)) * 4
    data = data[:size]
    assert decrypt_media(wecom_media(data), KEY) == data


def test_media_under_another_key_or_cut_is_refused():
    other = decode_aes_key("S2V5T2ZTb21lb25lRWxzZTAxMjM0NTY3ODlhYmNkZWY")
    with pytest.raises(FetchFailed):
        decrypt_media(
            wecom_media(b"%PDF-1.4 secret", "S2V5T2ZTb21lb25lRWxzZTAxMjM0NTY3ODlhYmNkZWY")[:-1],
            other,
        )
    with pytest.raises(FetchFailed):
        decrypt_media(wecom_media(b"%PDF-1.4 abcdefghijklmnopqrstuvwxyz"), other)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("attachment; filename*=UTF-8''%E6%95%B4%E6%94%B9%E6%8A%A5%E5%91%8A.pdf", "整改报告.pdf"),
        ("attachment; filename=\"a.pdf\"; filename*=UTF-8''%E6%8A%A5.pdf", "报.pdf"),
        ('attachment; filename="report.docx"', "report.docx"),
        (
            'attachment; filename="\xe6\x8a\xa5\xe5\x91\x8a.pdf"',
            "报告.pdf",
        ),  # UTF-8 read as Latin-1
        ('attachment; filename="../../etc/passwd"', "../../etc/passwd"),  # kept: check_name refuses
        ("attachment", ""),
        ("", ""),
    ],
)
def test_file_names_come_from_content_disposition(header, name):
    assert filename_of(header) == name

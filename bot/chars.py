"""Which characters can be kept: the ones XML 1.0 can hold, since every export (the .xlsx and
.docx files, WeCom's XML replies) is XML inside.

https://www.w3.org/TR/xml/#charsets (Extensible Markup Language 1.0, section 2.2 Characters):
tab, line feed, carriage return, U+0020-U+D7FF, U+E000-U+FFFD and U+10000-U+10FFFF. Everything
else (the other C0 controls, lone surrogates, U+FFFE and U+FFFF) makes lxml refuse the whole file.
"""

from __future__ import annotations

import re

XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def first_illegal(text: str) -> str:
    """The first character of `text` XML cannot hold, as U+XXXX; "" when there is none."""
    m = XML_ILLEGAL.search(text)
    return f"U+{ord(m.group(0)):04X}" if m else ""


def xml_safe(text: str) -> str:
    """`text` without the characters XML cannot hold."""
    return XML_ILLEGAL.sub("", text)

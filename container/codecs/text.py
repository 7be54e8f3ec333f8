"""What every text body shares: its charset, its UTF-8 text, its lines.

Owns: the strict path's reading of a body as text (UTF-8 with or without BOM, CRLF and a trailing
newline accepted, inner blank lines and NUL bytes refused) and the charsets taken as UTF-8. Must
not know any one format.
"""

from __future__ import annotations

from collections.abc import Mapping

from container.errors import MalformedRequest, UnsupportedMediaType

BOM = "\ufeff"
UTF8_BOM = BOM.encode()
UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def declares_utf8(params: Mapping[str, str]) -> bool:
    charset = params.get("charset")
    return charset is None or charset.lower() in UTF8_CHARSETS


def decoded_text(body: bytes, params: Mapping[str, str]) -> str:
    if not declares_utf8(params):
        raise UnsupportedMediaType(f"charset {params['charset'].lower()!r} is not supported; send UTF-8")
    if b"\x00" in body:
        raise MalformedRequest("the body contains a NUL byte")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedRequest(f"the body is not valid UTF-8 (byte {error.start})") from None
    return text.removeprefix(BOM)


def record_lines(text: str) -> list[str]:
    """Non-empty body split into lines; CRLF and trailing newlines allowed, inner blank lines not."""
    lines = text.rstrip("\r\n").split("\n")
    lines = [line.removesuffix("\r") for line in lines]
    if lines == [""]:
        raise MalformedRequest("the body is empty")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise MalformedRequest(f"line {number} is blank; every line must be one record")
    return lines

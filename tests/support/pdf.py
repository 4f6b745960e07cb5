"""The text of a ReportLab PDF, for tests that read what a document says: every
content stream is decoded (ASCII85 + Flate, as ReportLab writes them) and the
strings of its text operators read back — UTF-16BE for the CID font
(``UniGB-UCS2-H``), Latin-1 for the base fonts."""

from __future__ import annotations

import base64
import re
import zlib

_STREAM = re.compile(rb"<<((?:(?!<<|stream).)*?)>>\s*stream\r?\n(.*?)\s*endstream", re.S)
_SHOW = re.compile(rb"/(F\d+)\s+[\d.]+\s+Tf|\(((?:\\.|[^\\)])*)\)\s*Tj|<([0-9A-Fa-f]*)>\s*Tj")
_CID_FONT = re.compile(rb"/Encoding /UniGB-UCS2-H /Name /(F\d+)")


def _unescape(raw: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x5C and i + 1 < len(raw):  # backslash
            nxt = raw[i + 1 : i + 4]
            if nxt[:1].isdigit():
                digits = re.match(rb"[0-7]{1,3}", nxt)
                assert digits is not None
                out.append(int(digits.group(0), 8))
                i += 1 + len(digits.group(0))
                continue
            char = raw[i + 1 : i + 2]
            out += {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(char, char)
            i += 2
            continue
        out.append(raw[i])
        i += 1
    return bytes(out)


def pdf_text(pdf: bytes) -> str:
    """Every string the document shows, one line per text operator."""
    cid_fonts = {m.group(1) for m in _CID_FONT.finditer(pdf)}
    lines: list[str] = []
    for head, body in _STREAM.findall(pdf):
        data = body
        if b"ASCII85Decode" in head:
            data = base64.a85decode(data.strip().removesuffix(b"~>"))
        if b"FlateDecode" in head:
            data = zlib.decompress(data)
        font = b""
        for match in _SHOW.finditer(data):
            if match.group(1):
                font = match.group(1)
                continue
            raw = (
                _unescape(match.group(2))
                if match.group(2) is not None
                else bytes.fromhex(match.group(3).decode())
            )
            lines.append(raw.decode("utf-16-be" if font in cid_fonts else "latin-1", "replace"))
    return "\n".join(lines)

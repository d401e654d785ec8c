"""From a landing file's bytes to its physical lines: decompression, the encoding, each line's text or why it is
not text, and which lines the compiled path may read as they are (``readable``, ``clean_utf8_lines``).

Pure functions over bytes, shared by the reference reading of a file (``landing_files.FileLines``) and its compiled
path. A physical line ends with LF (or CRLF); nothing else splits a line.
"""

from __future__ import annotations

import codecs
import gzip
import zlib
from dataclasses import dataclass

from interaction_lake import contracts
from interaction_lake.contracts import Rejection

_GZIP_MAGIC = b"\x1f\x8b"
# A file is binary, not text with a few bad lines, when more than this share of its first lines is not text.
BINARY_SHARE, SAMPLE_LINES = 0.5, 1000


@dataclass(frozen=True)
class Physical:
    number: int  # 1-based
    text: str  # decoded content without its terminator (\\x.. escapes where not UTF-8)
    raw: bytes  # the content's bytes without terminator
    end: bytes  # b"\n", b"\r\n" or b"" (the last line of a file without final newline)
    problem: str | None  # why this line is not text, or None


def uncompressed(name: str, data: bytes) -> tuple[bytes, Rejection | None]:
    if not data.startswith(_GZIP_MAGIC):
        return data, None
    try:
        return gzip.decompress(data), None
    except EOFError:
        return b"", Rejection(contracts.TRUNCATED_FILE, f"{name} is a gzip archive cut short; nothing of it is landed until it is complete")
    except (OSError, zlib.error) as error:
        return b"", Rejection(contracts.UNREADABLE_FILE, f"{name} starts as a gzip archive but cannot be decompressed: {error}"[:500])


def encoding(body: bytes) -> tuple[str, bytes]:
    """The codec of a landing file and its bytes after any byte-order mark."""
    for mark, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if body.startswith(mark):
            return codec, body[len(mark):]
    sample = body[:4096]
    if len(sample) >= 4 and b"\x00" in sample:  # UTF-16 text without a mark: every other byte NUL (ASCII-range text)
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) >= 0.9 * len(odd) and even.count(0) <= 0.1 * len(even):
            return "utf-16-le", body
        if even.count(0) >= 0.9 * len(even) and odd.count(0) <= 0.1 * len(odd):
            return "utf-16-be", body
    return "utf-8", body


def physical_lines(name: str, body: bytes, declared: str = "utf-8") -> tuple[list[Physical], Rejection | None]:
    """The file's lines, decoded: a byte-order mark (or UTF-16's NUL pattern) decides the codec, else ``declared``
    (a feed mapping's encoding; contract files are UTF-8)."""
    codec, body = encoding(body)
    if codec == "utf-8" and codecs.lookup(declared).name != "utf-8":
        codec = codecs.lookup(declared).name
    if codec.startswith(("utf-16", "utf-32")):
        try:
            text = body.decode(codec)
        except UnicodeDecodeError as error:
            return [], Rejection(contracts.ENCODING_ERROR, f"{name} is {codec} by its byte pattern but does not decode: {error.reason}")
        parts: list = text.split("\n")
    else:
        parts = body.split(b"\n")
    final_newline = not parts[-1]
    if final_newline:
        parts.pop()  # after a final newline there is no line
    lines = [physical(index, part, index < len(parts) - 1 or final_newline, codec) for index, part in enumerate(parts)]
    sample = lines[:SAMPLE_LINES]
    bad = sum(line.problem is not None for line in sample)
    if bad >= 2 and bad > BINARY_SHARE * len(sample):
        return [], Rejection(contracts.UNREADABLE_FILE, f"{name} is binary or corrupt, not text: {bad} of its first "
                                                        f"{len(sample)} lines are not text")
    return lines, None


def physical(index: int, part: bytes | str, ended: bool, codec: str) -> Physical:
    """The ``index``-th line of a file (0-based) from its bytes (or its text, where the file was UTF-16), and
    whether a newline ended it."""
    if isinstance(part, str):  # decoded from UTF-16: stored as UTF-8, like every line
        text, problem = part, None
        raw = part.encode("utf-8", errors="surrogatepass")
    else:
        raw = part
        try:
            text, problem = raw.decode(codec), None
        except UnicodeDecodeError as error:
            text, problem = raw.decode(codec, errors="backslashreplace"), f"not {'UTF-8' if codec == 'utf-8' else codec}: {error.reason} at byte {error.start}"
    end = b"\n" if ended else b""
    if ended and text.endswith("\r"):
        text, raw, end = text[:-1], raw[:-1], b"\r\n"
    if problem is None and "\x00" in text:
        problem = f"a NUL byte at character {text.index(chr(0))}: not text"
    return Physical(index + 1, text, raw, end, problem)


def readable(raw: bytes) -> bool:
    """Whether the compiled path may read a line: UTF-8, no NUL, no CR (the reference says what anything else is)."""
    if raw.isascii():  # the common case, without decoding
        return raw[-1:] != b"\r" and b"\x00" not in raw
    return readable_text(raw) is not None


def readable_text(raw: bytes) -> str | None:
    """A line's text where the compiled path may read it (``readable``), else None."""
    return None if raw[-1:] == b"\r" or b"\x00" in raw else _text(raw)


def all_readable(lines: list[bytes]) -> bool:
    """Whether every one of ``lines`` is ``readable``, by one check of them all (an ASCII file is not decoded)."""
    body = b"\n".join(lines)
    return _no_nul_or_cr(body) and (body.isascii() or _text(body) is not None)


def readable_texts(lines: list[bytes]) -> list[str | None]:
    """Each line's ``readable_text``: by one decoding of them all where every line is readable."""
    body = b"\n".join(lines)
    text = _text(body) if _no_nul_or_cr(body) else None
    return text.split("\n") if text is not None else [readable_text(raw) for raw in lines]


def _no_nul_or_cr(body: bytes) -> bool:
    return b"\x00" not in body and b"\r" not in body


def _text(body: bytes) -> str | None:
    """``body`` decoded as UTF-8, or None."""
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None


def clean_utf8_lines(body: bytes) -> list[bytes] | None:
    """The lines of a file the compiled path may read line by line, or None where the reference must read the file
    whole: it is UTF-8 by its bytes (a UTF-8 mark is dropped; a UTF-16 one or pattern is not), ends with a newline (so
    it cannot be cut short: ``_truncation``), and its sample lines are all text (so it is not refused whole as binary)."""
    codec, body = encoding(body)
    if codec != "utf-8" or not body.endswith(b"\n"):
        return None
    parts = body.split(b"\n")
    parts.pop()  # after the final newline there is no line
    for part in parts[:SAMPLE_LINES]:
        if b"\x00" in part:
            return None
        try:
            part.decode()
        except UnicodeDecodeError:
            return None
    return parts

"""Reading the small text inputs users write (CSV tables, JSON manifests and mappings), with one
clear error for every way such a file can be unreadable: missing, a folder, not UTF-8, invalid or
absurdly nested JSON, or too large to be what it claims.

Every text reader of the package goes through here, so a bad byte in a CSV gives the same kind of
message as a missing manifest: the file and what is wrong with it, never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from ..errors import InputError

#: Text inputs are tables and manifests of a few kB; anything larger is not what it claims to be
#: (and reading it whole would cost memory before any check).
MAX_TEXT_BYTES = 20 * 2 ** 20
#: JSON nested deeper than this is refused before Python's recursion limit is reached (a manifest
#: is about 5 levels deep).
MAX_JSON_DEPTH = 64


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """The file's text (UTF-8, an optional byte-order mark removed)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} not found", path)
    if not path.is_file():
        raise InputError(f"{what} is not a file", path)
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise InputError(f"{what} is {size / 2 ** 20:.0f} MB, larger than any {what} "
                         f"({MAX_TEXT_BYTES // 2 ** 20} MB at most): wrong file?", path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror or exc})", path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): save the {what} as UTF-8",
                         path, "encoding") from None


def open_text(path: str | os.PathLike, what: str = "file") -> io.StringIO:
    """The whole file's text as a file object (``with open_text(path, "TAC file") as f:``): the
    decoding is done, and checked, before the caller reads a line."""
    return io.StringIO(read_text(path, what), newline="")


def read_csv_rows(path: str | os.PathLike, what: str = "CSV file") -> list[list[str]]:
    """The rows of a CSV file, as lists of strings."""
    text = read_text(path, what)
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InputError(f"not a readable CSV file ({exc})", path) from None


def read_csv_dicts(path: str | os.PathLike, what: str = "CSV file") -> tuple[list[str], list[dict]]:
    """The header and the rows (dicts keyed by the header) of a CSV file with a header line."""
    text = read_text(path, what)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = list(reader)
        return list(reader.fieldnames or []), rows
    except csv.Error as exc:
        raise InputError(f"not a readable CSV file ({exc})", path) from None


def _depth_exceeded(text: str, limit: int) -> bool:
    """True when brackets outside strings nest deeper than ``limit`` (checked before parsing)."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def read_json(path: str | os.PathLike, what: str = "JSON file"):
    """The parsed content of a JSON file. NaN and Infinity parse (as Python's json does) so that the
    caller's schema check names the field that holds them."""
    text = read_text(path, what)
    if _depth_exceeded(text, MAX_JSON_DEPTH):
        raise InputError(f"not valid JSON for a {what}: nested more than {MAX_JSON_DEPTH} levels deep", path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", path) from None

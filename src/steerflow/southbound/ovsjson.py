"""A C-speed JSON parser for python-ovs' JSON-RPC streams, where its own C parser is not built.

python-ovs (the `ovs` package ovsdbapp runs on) reads every OVSDB message through `ovs.json.Parser`;
without its optional C extension (`ovs._json`, which PyPI's `ovs` builds only where libopenvswitch's
headers are installed) that parser is pure Python, character by character: about 5 us a character,
so an agent's first OVSDB session (the schema, the bridge's ports and interfaces) spent most of its
CPU there, and every later update (interface statistics every 5 s) too. `StreamParser` has the same
interface (`feed` returns the characters it used, `is_done`, `finish` returns the value or an error
string), finds where one top-level object or array ends by skipping from quote to quote and bracket to
bracket, and decodes it with the standard library's `json`. `install()` puts it in place of the pure
Python one only.
"""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

_SPECIAL = re.compile(r'["{}\[\]]')  # what changes the nesting outside strings
_OPENING = frozenset("{[")


class StreamParser:
    """One JSON value from a stream, fed in pieces: `feed(text)` until `is_done()`, then `finish()`.

    A stream holds objects or arrays (what JSON-RPC sends; anything else is an error, as a broken
    peer's stream is); with `check_trailer` the whole input is one value, decoded by `finish`.
    """

    def __init__(self, check_trailer: bool = False) -> None:
        self._whole = check_trailer
        self._text = ""  # what was fed and not yet scanned past, joined on demand
        self._scanned = 0  # the position in `_text` the scan resumes from
        self._depth = 0
        self._in_string = False
        self._end: int | None = None  # where the value ends in `_text`, once found
        self._error: str | None = None

    def feed(self, text: str) -> int:
        """Take `text`; return how many of its characters belong to the value (all of them until it
        is complete)."""
        if self._end is not None:
            return 0
        before = len(self._text)
        self._text += text
        if self._whole:
            return len(text)
        end = self._scan()
        if end is None:
            return len(text)
        self._end = end
        return end - before

    def is_done(self) -> bool:
        return self._end is not None

    def finish(self) -> Any:
        """The value, or an error message (a `str`, as python-ovs' parser returns it)."""
        if self._error is not None:
            return self._error
        text = self._text if self._end is None else self._text[: self._end]
        if self._end is None and not self._whole:
            if not text.strip():
                return "empty input stream"
            return "unexpected end of input"
        try:
            return json.loads(text)
        except ValueError as exc:
            return f"syntax error: {exc}"

    def _scan(self) -> int | None:
        """The end of the first complete object or array in `_text`, or None (scanned so far kept)."""
        text, pos = self._text, self._scanned
        if self._depth == 0 and not self._in_string:
            stripped = len(text) - len(text[pos:].lstrip())
            if stripped == len(text):
                self._scanned = len(text)
                return None
            if text[stripped] not in _OPENING:
                self._error = f"syntax error: a stream holds objects or arrays, not {text[stripped]!r}"
                return stripped + 1
        while True:
            if self._in_string:
                quote = text.find('"', pos)
                if quote < 0:
                    self._scanned = len(text)
                    return None
                pos = quote + 1
                if _escaped(text, quote):
                    continue
                self._in_string = False
                continue
            found = _SPECIAL.search(text, pos)
            if found is None:
                self._scanned = len(text)
                return None
            char, pos = found.group(), found.end()
            if char == '"':
                self._in_string = True
            elif char in _OPENING:
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    self._scanned = pos
                    return pos


def _escaped(text: str, quote: int) -> bool:
    """Whether the quote at `quote` is escaped (an odd number of backslashes before it)."""
    count = 0
    at = quote - 1
    while at >= 0 and text[at] == "\\":
        count += 1
        at -= 1
    return count % 2 == 1


def install() -> bool:
    """Parse python-ovs' streams with `StreamParser` when its C parser is missing; whether it did."""
    parsing: Any = importlib.import_module("ovs.json")  # python-ovs ships no type information
    if parsing.PARSER == parsing.PARSER_C:
        return False
    parsing.Parser = StreamParser
    return True

"""`StreamParser` reads a JSON-RPC stream as python-ovs' own parser does, however the stream is cut."""

from __future__ import annotations

import json
from typing import Any

import ovs.json
from hypothesis import given, settings
from hypothesis import strategies as st

from steerflow.southbound.ovsjson import StreamParser

# strings with what makes scanning hard: quotes, backslashes, brackets, escapes, non-ASCII
TEXT = st.text(alphabet=st.sampled_from(['"', "\\", "{", "}", "[", "]", "a", " ", "é", "\n", "\u2028"]))
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
MESSAGES = st.dictionaries(TEXT, VALUES, max_size=4) | st.lists(VALUES, max_size=4)


def _read_stream(data: str, cuts: list[int], parser: type[Any]) -> list[Any]:
    """What python-ovs' JSON-RPC reader does with the stream `data` arriving in pieces cut at `cuts`."""
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    values, pending, current = [], "", None
    for piece in pieces:
        pending += piece
        while pending:
            current = current or parser()
            pending = pending[current.feed(pending) :]
            if not current.is_done():
                break
            values.append(current.finish())
            current = None
    return values


@settings(max_examples=200, deadline=None)
@given(st.lists(MESSAGES, min_size=1, max_size=4), st.data())
def test_a_stream_cut_anywhere_reads_as_python_ovs_reads_it(messages: list[Any], data: st.DataObject) -> None:
    stream = "".join(json.dumps(m, ensure_ascii=data.draw(st.booleans())) for m in messages)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=8)))
    ours = _read_stream(stream, cuts, StreamParser)
    assert ours == messages
    assert ours == _read_stream(stream, cuts, ovs.json.Parser)


def test_whitespace_between_messages_is_skipped() -> None:
    assert _read_stream(' {"a": 1}\n [2] ', [3, 9], StreamParser) == [{"a": 1}, [2]]


def test_an_incomplete_stream_is_an_error_only_when_finished() -> None:
    parser = StreamParser()
    assert parser.feed('{"id": "x", "result": [1, ') == len('{"id": "x", "result": [1, ')
    assert not parser.is_done()
    assert parser.finish() == "unexpected end of input"
    assert StreamParser().finish() == "empty input stream"


def test_a_stream_of_anything_but_objects_and_arrays_is_an_error_at_once() -> None:
    parser = StreamParser()
    parser.feed("42 ")
    assert parser.is_done()
    assert isinstance(parser.finish(), str)


def test_a_broken_object_is_an_error_string() -> None:
    parser = StreamParser()
    parser.feed('{"a" 1}')
    assert parser.is_done()
    result = parser.finish()
    assert isinstance(result, str) and "syntax error" in result


@given(VALUES)
def test_a_whole_document_with_check_trailer_reads_any_value(value: Any) -> None:
    parser = StreamParser(check_trailer=True)
    parser.feed(json.dumps(value))
    assert parser.finish() == value

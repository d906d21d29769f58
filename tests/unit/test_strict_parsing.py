"""The strict JSON decoder and the integer parser that every request goes through."""

from __future__ import annotations

import pytest

from cargohold.parsing.integers import INT64_MAX, parse_non_negative
from cargohold.parsing.json_document import MAX_DEPTH, JsonInvalid, load_json
from cargohold.parsing.times import time_from_json, time_from_query


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"x": {"a": 1, "b": 2, "a": 3}}', "duplicate key 'a'"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        ('{"a": "é"}'.encode("utf-16"), "not UTF-8"),
        (b'{"a": "\xe9"}', "not UTF-8"),
        (b"NaN", "NaN is not JSON"),
        (b"[Infinity]", "Infinity is not JSON"),
        (b"-Infinity", "-Infinity is not JSON"),
        (b"1e999", "too large"),
        (str(2**63).encode(), "outside the 64-bit range"),
        (str(-(2**63) - 1).encode(), "outside the 64-bit range"),
        (b"9" * 5000, "outside the 64-bit range"),
        (b"[" * 2000 + b"]" * 2000, f"deeper than {MAX_DEPTH}"),
        (b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), f"deeper than {MAX_DEPTH}"),
        (b'"\\ud800"', "lone surrogate"),
        (b'{"\\udfff": 1}', "lone surrogate"),
        (b'["\\u0000"]', "NUL"),
        (b"{", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"{} {}", "not valid JSON"),
    ],
)
def test_refused(data: bytes, why: str) -> None:
    with pytest.raises(JsonInvalid, match=why.replace("(", r"\(")):
        load_json(data)


def test_accepted() -> None:
    assert load_json(b' {"a": [1, 2.5, true, null, "\\ud83d\\ude00"]} ') == {
        "a": [1, 2.5, True, None, "\U0001f600"]
    }
    assert load_json(str(INT64_MAX).encode()) == INT64_MAX
    assert load_json(str(-(2**63)).encode()) == -(2**63)
    assert load_json(b'"\xc3\xa9"') == "é"
    assert load_json('{"a": 1}') == {"a": 1}
    nested = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert load_json(nested) is not None


@pytest.mark.parametrize(
    "text", ["", "²", "٣", "1²", "+1", "-1", " 1", "1 ", "1_000", "0x1", "1.0", "9" * 5000]
)
def test_not_a_non_negative_integer(text: str) -> None:
    with pytest.raises(ValueError):
        parse_non_negative(text)


def test_non_negative_integers_and_their_bound() -> None:
    assert parse_non_negative("0") == 0
    assert parse_non_negative("007") == 7
    assert parse_non_negative(str(INT64_MAX)) == INT64_MAX
    with pytest.raises(ValueError, match="larger than"):
        parse_non_negative(str(INT64_MAX + 1))
    assert parse_non_negative("1000", maximum=1000) == 1000
    with pytest.raises(ValueError):
        parse_non_negative("1001", maximum=1000)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nan",
        "inf",
        "1e9",
        "-5",
        " 12",
        "1_000",
        "\u0661\u0662",
        "\u00b2",
        "2027-01-31T00:00:00",
        "2027-02-30",
        "2027-02-30T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "tomorrow",
    ],
)
def test_not_a_time_in_a_query(text: str) -> None:
    with pytest.raises(ValueError):
        time_from_query(text)


@pytest.mark.parametrize("value", [True, None, [], {}, -1, float("inf"), 1e300, "soon", "1900"])
def test_not_a_time_in_a_body(value: object) -> None:
    with pytest.raises(ValueError):
        time_from_json(value)


def test_times_are_rfc3339_with_a_zone_or_unix_seconds() -> None:
    moment = 1801353600.0  # 2027-01-31T00:00:00Z
    for text in ("1801353600", "1801353600.0", "2027-01-31T00:00:00Z", "2027-01-31T01:00:00+01:00"):
        assert time_from_query(text) == moment
    for value in (1801353600, 1801353600.0, "2027-01-31T00:00:00Z", "2027-01-31t00:00:00z"):
        assert time_from_json(value) == moment
    assert time_from_query("1801353600.25") == moment + 0.25
    # In a query: a date is its midnight in UTC; a `+` the query string made a space is a `+`.
    assert time_from_query("2027-01-31") == moment
    assert time_from_query("2027-01-31T01:00:00 01:00") == moment
    with pytest.raises(ValueError):
        time_from_json("2027-01-31")

"""The one check of numbers people type: ids and whole numbers within the bounds the database holds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import Refused
from core.numbers import MAX_ID, check_whole_number, parse_id


@given(st.one_of(st.text(), st.integers().map(str)))
def test_parse_id_never_raises_and_stays_in_range(text: str) -> None:
    value = parse_id(text)
    assert value is None or 1 <= value <= MAX_ID


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        (" 7 ", 7),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),
        ("999999999999999999999999", None),
        ("0", None),
        ("-3", None),
        ("²", None),  # a digit to str.isdigit, not to int()
        ("١٢", None),  # Arabic-Indic digits: not an id anyone types here
        ("9" * 5000, None),
        ("", None),
    ],
)
def test_parse_id(text: str, expected: int | None) -> None:
    assert parse_id(text) == expected


def test_check_whole_number_names_the_bounds_and_shortens_what_it_shows() -> None:
    assert check_whole_number(5, "the batch", maximum=10) == 5
    for bad in (0, 11, True, 2.0, "5", None):
        with pytest.raises(Refused, match=r"^the batch must be a whole number from 1 to 10 \(got "):
            check_whole_number(bad, "the batch", maximum=10)
    with pytest.raises(Refused, match=r"\(got a number of more than 40 digits\)$"):
        check_whole_number(10**5000, "the batch")

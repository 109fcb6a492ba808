from __future__ import annotations

import pytest

from core.zones import contact_zone, zip5, zone_for_zip


@pytest.mark.parametrize(
    ("raw", "zone"),
    [
        ("85001", "America/Phoenix"),  # Phoenix, AZ: no daylight saving time
        ("85719", "America/Phoenix"),  # Tucson
        ("10001", "America/New_York"),
        ("90210", "America/Los_Angeles"),
        ("60601", "America/Chicago"),
        ("80202", "America/Denver"),
        ("96813", "Pacific/Honolulu"),
        ("02108", "America/New_York"),
        ("2108", "America/New_York"),  # Boston with its leading zero lost by a spreadsheet
        ("02108-1234", "America/New_York"),  # ZIP+4
        ("021081234", "America/New_York"),  # ZIP+4 without the dash
        ("2108-1234", "America/New_York"),
        (" 10001 ", "America/New_York"),
        ("10001.0", "America/New_York"),  # a zip stored as a number
    ],
)
def test_zone_for_zip(raw: str, zone: str) -> None:
    assert zone_for_zip(raw) == zone


@pytest.mark.parametrize("raw", ["", "   ", "abcde", "00000", "1234567890", "12", "10001-12"])
def test_unknown_or_malformed_zip_has_no_zone(raw: str) -> None:
    assert zone_for_zip(raw) is None


def test_zip5_shapes() -> None:
    assert zip5("501") == "00501"
    assert zip5("12345-6789") == "12345"
    assert zip5("hello") is None


def test_contact_zone_prefers_zip_then_area_code_then_campaign() -> None:
    # A New York number living in Phoenix: the zip wins.
    assert contact_zone("85001", "+12125550123", "America/Chicago") == "America/Phoenix"
    # No zip: the area code (312 = Chicago).
    assert contact_zone("", "+13125550123", "America/New_York") == "America/Chicago"
    # An unknown zip falls through to the area code too.
    assert contact_zone("00000", "+16025550123", "America/New_York") == "America/Phoenix"
    # Neither: a toll-free number has no area-code zone, so the campaign's default.
    assert contact_zone("", "+18005550199", "America/Denver") == "America/Denver"

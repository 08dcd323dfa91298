"""The ``format`` keywords the spec declares, each checked by a checker of our own.

jsonschema checks a format only when an optional package for it is installed (``uri`` wants
``rfc3987``, ``date-time`` ``rfc3339-validator``), and silently passes every value otherwise.
Requests are checked here instead, the same on every installation: a value a format refuses
is 400 with a pointer like any other schema error. ``tests/api/test_hostile_input.py`` checks
that every format of the spec has a checker.
"""

from __future__ import annotations

import re
from datetime import date

from jsonschema import FormatChecker

CHECKER = FormatChecker(formats=())
"""The format checker of every request validator (``validation.validator_for``)."""

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$", re.ASCII)
_DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$",
    re.ASCII | re.IGNORECASE,
)
# RFC 3986: unreserved, sub-delims, ":" "@" "/" "?" "#", brackets (IP literals), and
# %-escapes of two hex digits; a URI starts with a scheme, a reference need not.
_URI_CHARS = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%[0-9A-Fa-f]{2})*"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:" + _URI_CHARS + r"$", re.ASCII)
_URI_REFERENCE = re.compile(r"^" + _URI_CHARS + r"$", re.ASCII)
INT64 = (-(2**63), 2**63 - 1)


def _calendar_day(year: str, month: str, day: str) -> bool:
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


@CHECKER.checks("date")
def is_date(value: object) -> bool:
    """An RFC 3339 full-date (``2024-05-05``) that names a real day."""
    if not isinstance(value, str):
        return True
    found = _DATE.match(value)
    return found is not None and _calendar_day(*found.groups())


@CHECKER.checks("date-time")
def is_date_time(value: object) -> bool:
    """An RFC 3339 date-time with its offset (``2024-05-05T10:00:00Z``) on a real day."""
    if not isinstance(value, str):
        return True
    found = _DATE_TIME.match(value)
    return found is not None and _calendar_day(*found.groups()[:3])


@CHECKER.checks("uri")
def is_uri(value: object) -> bool:
    """An absolute URI as RFC 3986 spells it: a scheme, and no space or other raw character."""
    return not isinstance(value, str) or _URI.match(value) is not None


@CHECKER.checks("uri-reference")
def is_uri_reference(value: object) -> bool:
    return not isinstance(value, str) or _URI_REFERENCE.match(value) is not None


@CHECKER.checks("int64")
def is_int64(value: object) -> bool:
    return not isinstance(value, int) or INT64[0] <= value <= INT64[1]

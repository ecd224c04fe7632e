"""Types the JSON API shares, so the OpenAPI document states the rules the API enforces.

- Ids: a row id is a positive 32-bit integer (PostgreSQL's integer primary keys; SQLite
  would overflow beyond 64 bits). 0, a negative or a larger id is refused (422) before any
  lookup; an id in range that names nothing is a 404 (or a 422 for a reference in a body).
- JSON input is validated in pydantic's python mode (FastAPI parses the body first), whose
  lax conversions would take `0` as a date, `0.5` as a datetime, `false` or `"3"` as an
  integer and `1` or `"yes"` as a boolean. The body types below take only what the document
  says: integers that are integers, booleans that are booleans, dates and datetimes as ISO
  8601 text (or a date/datetime a studio form already parsed).
"""

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BeforeValidator, Field, StrictBool, StringConstraints
from pydantic_core import PydanticCustomError

MAX_ID = 2**31 - 1  # as app/subscribers/service.py and app/news/service.py
ID_RANGE = {"ge": 1, "le": MAX_ID}

# An id in a path, in a query and in a body.
PathId = Annotated[int, Path(**ID_RANGE)]
QueryId = Annotated[int, Query(**ID_RANGE)]


def _number_not_text(value: Any) -> Any:
    # JSON's integers: 3 and 3.0 (an integral number, as JSON Schema counts it); not true
    # (pydantic would take it as 1), nor "3".
    if isinstance(value, bool | str | bytes):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def body_int(**bounds: int) -> Any:
    """An integer in a JSON body, with bounds (ge, le) the document shows."""
    # The bounds come before the validator, or pydantic's schema loses them (a raw "ge").
    return Annotated[int, Field(**bounds), BeforeValidator(_number_not_text)]


BodyInt = body_int()
BodyId = body_int(**ID_RANGE)
BodyBool = StrictBool


def _without_null(schema: dict[str, Any]) -> None:
    alternatives = [s for s in schema.pop("anyOf", []) if s != {"type": "null"}]
    if len(alternatives) == 1:
        schema.update(alternatives[0])
    elif alternatives:
        schema["anyOf"] = alternatives


def not_null(python_type: Any) -> Any:
    """A field that may be omitted but not sent as null (a validator beside it refuses null):
    `X | None` to pydantic, so errors keep their plain location, and X in the document."""
    return Annotated[python_type | None, Field(json_schema_extra=_without_null)]


ISO_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}")


def _iso_text(kind: str, python_type: type):
    def check(value: Any) -> Any:
        if isinstance(value, python_type):
            return value
        if isinstance(value, str) and ISO_DATE.match(value):
            return value
        raise PydanticCustomError(f"{kind}_type", f"Input should be a valid {kind} (ISO 8601)")

    return BeforeValidator(check)


# datetime is a subclass of date: a date field takes the date of a datetime only as pydantic
# does (midnight), never a number.
IsoDate = Annotated[date, _iso_text("date", date)]
IsoDatetime = Annotated[datetime, _iso_text("datetime", datetime)]

# An email address as the document shows it; the services check it (email_validator).
# email_validator also refuses the special-use domains (RFC 6761: .test, .local ...).
EMAIL_SCHEMA = {
    "format": "email",
    "pattern": r"^(?!.*[@.](?:arpa|invalid|local|localhost|onion|test)\.?$)",
}
EmailText = Annotated[str, StringConstraints(max_length=320), Field(json_schema_extra=EMAIL_SCHEMA)]
EmailPath = Annotated[str, Path(max_length=320, json_schema_extra=EMAIL_SCHEMA)]

# Opaque paging cursors are base64url text the API issued (app/*/service.py list_page).
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+={0,2}$"
Cursor = Annotated[str, Query(min_length=1, max_length=100, pattern=CURSOR_PATTERN)]

# Text the validators strip and check for control characters (C0, C1, DEL):
# the document's patterns say the same, for JSON Schema (Python's re: \s is str.isspace()).
# Only the document carries them; the validators beside each field enforce the rule.
CONTROL = r"\x00-\x1f\x7f-\x9f"  # lone surrogates too, but no pattern can name them
ONE_LINE = rf"^\s*(?:[^{CONTROL}\s](?:[^{CONTROL}]*[^{CONTROL}\s])?)?\s*$"
REQUIRED_LINE = rf"^\s*[^{CONTROL}\s](?:[^{CONTROL}]*[^{CONTROL}\s])?\s*$"
NOT_BLANK = r"\S"  # some text other than white space


def documented_pattern(pattern: str) -> Any:
    """The pattern in the OpenAPI document only: the validator beside the field enforces the
    rule (and says why in its error), where pydantic's regex would answer with the pattern."""
    return Field(json_schema_extra={"pattern": pattern})


# Text PostgreSQL can store and compare (no NUL), e.g. a search term.
NO_NUL = r"^[^\x00]*$"

# An absolute http(s) URL with a host name, no credentials and no white space: what the
# webhook and link validators take (they check the pattern too, besides their own rules).
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HTTP_URL = (
    rf"^\s*[Hh][Tt][Tt][Pp][Ss]?://{_LABEL}(?:\.{_LABEL})*(?::{_PORT})?"
    r"(?:[/?#][^\s\x00-\x1f\x7f]*)?\s*$"
)

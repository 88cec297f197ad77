"""Input rules shared by every aggregate: blank, size, NUL characters, email shape.

Each check returns the cleaned value or raises `Invalid` naming the field, so bad input is
refused before any statement runs and never becomes a database error.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from db.errors import DomainError, Invalid, Invalids

TITLE_MAX = 255
DESCRIPTION_MAX = 1024
BODY_MAX = 64 * 1024
COMMENT_MAX = 16 * 1024
TAG_MAX = 64
TAGS_MAX = 20
USERNAME_MAX = 64
EMAIL_MAX = 254
PASSWORD_MIN = 8
PASSWORD_MAX = 256
BIO_MAX = 4 * 1024
URL_MAX = 2 * 1024
SLUG_MAX = 320

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USERNAME_FORBIDDEN = re.compile(r"[\s/\\]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def key(value: str) -> str:
    """The form uniqueness is checked on: NFKC-normalised and case-folded."""
    return unicodedata.normalize("NFKC", value).casefold()


def comparable(value: str) -> bool:
    """Whether a stored value could equal `value`: none holds a NUL or a lone surrogate (`text`
    refuses both), and the drivers cannot even send them (PostgreSQL refuses NUL in text, and
    UTF-8 has no encoding for a lone surrogate), so a lookup of such a value finds nothing."""
    return "\x00" not in value and not _SURROGATE.search(value)


def text(value: str, field: str, *, max_length: int, required: bool = True) -> str:
    """A string that has no NUL or lone surrogate, fits `max_length`, and is not blank if required."""
    if "\x00" in value:
        raise Invalid("must not contain NUL characters", field=(field,))
    if _SURROGATE.search(value):
        raise Invalid("must be valid Unicode text", field=(field,))
    if required and not value.strip():
        raise Invalid("can't be blank", field=(field,))
    if len(value) > max_length:
        raise Invalid(f"is too long (maximum is {max_length} characters)", field=(field,))
    return value


def optional_text(value: str | None, field: str, *, max_length: int) -> str | None:
    """An optional string where `""` (or only whitespace) means "not set" and is stored as null."""
    if value is None or not value.strip():
        return None
    return text(value, field, max_length=max_length)


def username(value: str, field: str = "username") -> str:
    value = unicodedata.normalize("NFKC", text(value, field, max_length=USERNAME_MAX)).strip()
    if _USERNAME_FORBIDDEN.search(value):
        raise Invalid("may not contain spaces or slashes", field=(field,))
    return value


def email(value: str, field: str = "email") -> str:
    value = text(value, field, max_length=EMAIL_MAX).strip()
    if not _EMAIL.match(value):
        raise Invalid("is invalid", field=(field,))
    return value


def password(value: str, field: str = "password") -> str:
    text(value, field, max_length=PASSWORD_MAX)
    if len(value) < PASSWORD_MIN:
        raise Invalid(f"is too short (minimum is {PASSWORD_MIN} characters)", field=(field,))
    return value


def tag_list(values: list[str], field: str = "tag_list") -> list[str]:
    """Tags in the client's order, duplicates and blank names dropped."""
    if len(values) > TAGS_MAX * 5:
        raise Invalid(f"has too many tags (maximum is {TAGS_MAX})", field=(field,))
    tags: list[str] = []
    for index, value in enumerate(values):
        try:
            name = text(value, field, max_length=TAG_MAX, required=False).strip()
        except Invalid as error:
            raise Invalid(error.message, field=(field, str(index))) from None
        if name and name not in tags:
            tags.append(name)
    if len(tags) > TAGS_MAX:
        raise Invalid(f"has too many tags (maximum is {TAGS_MAX})", field=(field,))
    return tags


def all_of(*checks: Callable[[], Any]) -> list[Any]:
    """Run every check and raise all findings together, so a client sees each bad field at once."""
    values: list[Any] = []
    errors: list[DomainError] = []
    for check in checks:
        try:
            values.append(check())
        except Invalid as error:
            errors.append(error)
            values.append(None)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise Invalids(errors)
    return values

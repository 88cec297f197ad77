"""Input rules shared by every aggregate: blank, size, NUL and control characters, the shape of
emails and URLs, and usernames that cannot pass for someone else's.

Each check returns the value to store or raises `Invalid` naming the field, so bad input is
refused before any statement runs and never becomes a database error. Every bound holds for
what is stored (after NFKC and stripping) and for the key uniqueness is checked on: the
columns are sized to the bounds (db/models.py), and PostgreSQL refuses a longer value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import regex

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
#: NFKC composes at most 4 code points into one (U+1FAF), so a raw value over 4 times its bound
#: cannot fit it once normalised: it is refused before NFKC, which can make one character 18
#: (U+FDFA), is spent on it.
_RAW_FACTOR = 4

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USERNAME_FORBIDDEN = re.compile(r"[\s/\\]")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: The bidirectional embeddings, overrides and isolates: each reorders the text after it up to
#: the end of its paragraph, on the page it is shown in too (the "Trojan Source" trick). The
#: marks LRM, RLM and ALM only steer the characters beside them and stay allowed.
_BIDI_REORDERING = "\u202a-\u202e\u2066-\u2069"
#: Prose keeps tab, line feed and carriage return; every other C0 or C1 control is refused.
_PROSE_FORBIDDEN = re.compile(f"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_REORDERING}]")
#: A line (a title, a tag) has no control character at all, nor a line or paragraph separator.
_LINE_FORBIDDEN = re.compile(f"[\x01-\x1f\x7f-\x9f\u2028\u2029{_BIDI_REORDERING}]")
#: Control, format (zero-width, bidi), unassigned, private-use and surrogate code points: none is
#: seen for what it is, so none may be in a name or an address.
_HIDDEN = frozenset({"Cc", "Cf", "Cn", "Co", "Cs"})
#: Unicode TR 39 section 5.4, on the decomposed (NFD) name: a mark that begins a name sits on
#: whatever is shown before it; a mark repeated, or more than four in a row, draws over the
#: neighbouring characters.
_MISPLACED_MARKS = regex.compile(r"^\p{M}|(\p{Mn})\1|\p{Mn}{5}")
#: The scripts Unicode TR 31 (table 4) recommends for identifiers, as ISO 15924 codes.
_RECOMMENDED_SCRIPTS = (
    "Arab", "Armn", "Beng", "Bopo", "Cyrl", "Deva", "Ethi", "Geor", "Grek", "Gujr", "Guru", "Hang",
    "Hani", "Hebr", "Hira", "Kana", "Khmr", "Knda", "Laoo", "Latn", "Mlym", "Mymr", "Orya", "Sinh",
    "Taml", "Telu", "Thaa", "Thai", "Tibt",
)  # fmt: skip
#: TR 39's "Highly Restrictive" level allows these mixes besides a single script: how Japanese,
#: Chinese (with Bopomofo) and Korean are written, Latin included. Latin with Cyrillic or Greek,
#: whose letters look alike, is refused.
_MIXES = (("Latn", "Hani", "Hira", "Kana"), ("Latn", "Hani", "Bopo"), ("Latn", "Hani", "Hang"))


def _written_in(scripts: tuple[str, ...]) -> regex.Pattern[str]:
    """Matches a whole string whose every character may belong to one of `scripts`: its
    Script_Extensions meet them, or it is Common (digits, punctuation) or Inherited (marks)."""
    classes = "".join(f"\\p{{scx={script}}}" for script in (*scripts, "Zyyy", "Zinh"))
    return regex.compile(f"[{classes}]*")


_WRITINGS = tuple(_written_in((script,)) for script in _RECOMMENDED_SCRIPTS) + tuple(
    _written_in(mix) for mix in _MIXES
)


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
        raise _too_long(field, max_length)
    return value


def _too_long(field: str, max_length: int) -> Invalid:
    return Invalid(f"is too long (maximum is {max_length} characters)", field=(field,))


def _blank(value: str) -> bool:
    """Nothing to see: only whitespace and format characters (a zero-width space looks blank)."""
    return all(char.isspace() or unicodedata.category(char) == "Cf" for char in value)


def prose(value: str, field: str, *, max_length: int) -> str:
    """Text shown to others in paragraphs (a description, a body, a comment, a bio), stored as
    given: tab and line breaks are its own, other controls and reordering bidi characters not."""
    text(value, field, max_length=max_length, required=False)
    if _blank(value):
        raise Invalid("can't be blank", field=(field,))
    if _PROSE_FORBIDDEN.search(value):
        raise Invalid("must not contain control characters", field=(field,))
    return value


def optional_prose(value: str | None, field: str, *, max_length: int) -> str | None:
    """`prose` where `""` (or only whitespace) means "not set" and is stored as null."""
    if value is None or _blank(value):
        return None
    return prose(value, field, max_length=max_length)


def line(value: str, field: str, *, max_length: int, required: bool = True) -> str:
    """Text shown on one line (a title, a tag), stripped as it is stored: no control character,
    line break or reordering bidi character. Blank is `""` when not required."""
    value = text(value.strip(), field, max_length=max_length, required=False)
    if _blank(value):
        if required:
            raise Invalid("can't be blank", field=(field,))
        return ""
    if _LINE_FORBIDDEN.search(value):
        raise Invalid("must be one line without control characters", field=(field,))
    return value


def url(value: str | None, field: str) -> str | None:
    """An absolute http or https URL with a host, stripped; `""` (or only whitespace) is null.

    Any other scheme (`javascript:`, `data:`) would run or embed content where the URL is
    shown. Whitespace, control characters and backslashes are refused: browsers skip or turn
    them into slashes, so the host a browser reads could differ from the one checked here; for
    the same reason, a user name or password before the host (`https://good@evil/`) is refused.
    """
    if value is None or not value.strip():
        return None
    value = text(value.strip(), field, max_length=URL_MAX)
    if not _web_url(value):
        raise Invalid("must be an http or https URL", field=(field,))
    return value


def _web_url(value: str) -> bool:
    if "\\" in value or any(unicodedata.category(char)[0] in "CZ" for char in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number in range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "@" not in parts.netloc


def _normalised(value: str, field: str, max_length: int) -> str:
    """NFKC-normalised and stripped, as stored; it and its key both fit `max_length`."""
    if len(value) > _RAW_FACTOR * max_length:
        raise _too_long(field, max_length)
    value = unicodedata.normalize("NFKC", text(value, field, max_length=_RAW_FACTOR * max_length))
    value = value.strip()
    if len(value) > max_length or len(key(value)) > max_length:
        raise _too_long(field, max_length)
    return value


def username(value: str, field: str = "username") -> str:
    """NFKC-normalised and stripped, as stored, and not to be mistaken for another name: see
    `_deceptive`."""
    value = _normalised(value, field, USERNAME_MAX)
    if _USERNAME_FORBIDDEN.search(value):
        raise Invalid("may not contain spaces or slashes", field=(field,))
    problem = _deceptive(value)
    if problem is not None:
        raise Invalid(problem, field=(field,))
    return value


def _deceptive(name: str) -> str | None:
    """Why `name` could be read as another name, or None: it holds a character that is not seen
    (a zero-width space, a bidi override, a control), it has no letter or digit, it misplaces
    combining marks, it mixes digits of two numbering systems, or it mixes scripts beyond TR 39's
    "Highly Restrictive" level (a Cyrillic "a" among Latin letters)."""
    categories = [unicodedata.category(char) for char in name]
    if _HIDDEN.intersection(categories):
        return "may not contain control, invisible, private-use or unassigned characters"
    if not any(category[0] in "LN" for category in categories):
        return "must contain a letter or a digit"
    if _MISPLACED_MARKS.search(unicodedata.normalize("NFD", name)):
        return "may not begin with or stack combining marks"
    zeros = {ord(char) - unicodedata.decimal(char) for char in name if unicodedata.category(char) == "Nd"}
    if len(zeros) > 1:
        return "may not mix digits of different numbering systems"
    if not any(writing.fullmatch(name) for writing in _WRITINGS):
        return "may not mix scripts (Latin may only be mixed with Chinese, Japanese or Korean)"
    return None


def email(value: str, field: str = "email") -> str:
    """Stripped, as stored; it and its key both fit EMAIL_MAX; no character that is not seen."""
    value = text(value.strip(), field, max_length=EMAIL_MAX)
    if len(key(value)) > EMAIL_MAX:
        raise _too_long(field, EMAIL_MAX)
    if not _EMAIL.match(value) or _HIDDEN.intersection(map(unicodedata.category, value)):
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
            name = line(value, field, max_length=TAG_MAX, required=False)
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

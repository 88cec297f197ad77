"""The input rules on their own (no database): what each stores, and what it refuses and why.

The API tests (tests/graph/test_accounts.py, tests/graph/test_bad_input.py) prove the same
rules end to end on both engines; these pin the edges that are cheap to list here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from db import rules
from db.errors import Invalid

TOO_LONG_64 = "is too long (maximum is 64 characters)"
MIXED = "may not mix scripts (Latin may only be mixed with Chinese, Japanese or Korean)"
HIDDEN = "may not contain control, invisible, private-use or unassigned characters"


def refusal(check: Callable[..., object], *args: object, **kwargs: object) -> str:
    """The message of the `Invalid` the check raises."""
    with pytest.raises(Invalid) as raised:
        check(*args, **kwargs)
    return raised.value.message


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("jake", "jake"),
        ("  jake ", "jake"),
        ("ｂob", "bob"),
        ("ﬁne", "fine"),
        ("Ⅻ", "XII"),
        ("e\u0301" * 64, "é" * 64),  # 128 code points sent, 64 stored: the stored form counts
        ("ß" * 32, "ß" * 32),  # its key, "ss" * 32, is 64 long
        ("Straße", "Straße"),
        ("Ünïcödé", "Ünïcödé"),
        ("日本語", "日本語"),
        ("tanaka太郎", "tanaka太郎"),
        ("田中タロウ", "田中タロウ"),
        ("ラーメン", "ラーメン"),  # U+30FC is Common, its Script_Extensions Hiragana and Katakana
        ("kim철수", "kim철수"),
        ("lin林ㄅ", "lin林ㄅ"),
        ("Ελένη", "Ελένη"),
        ("Иван_2", "Иван_2"),
        ("محمد٣", "محمد٣"),
        ("ไทย", "ไทย"),
        ("a🙂", "a🙂"),
        ("1984", "1984"),
    ],
)
def test_usernames_accepted_and_what_is_stored(sent: str, stored: str) -> None:
    assert rules.username(sent) == stored


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("x" * 65, TOO_LONG_64),
        ("x" * 257, TOO_LONG_64),  # past 4 times the bound: refused before NFKC runs
        ("ß" * 33, TOO_LONG_64),  # 33 stored, key of 66
        ("ﬁ" * 33, TOO_LONG_64),  # 66 stored
        ("a b", "may not contain spaces or slashes"),
        ("a/b", "may not contain spaces or slashes"),
        ("a\u3000b", "may not contain spaces or slashes"),
        ("\u200b\u200b", HIDDEN),
        ("\u202eevil", HIDDEN),
        ("ja\u200dke", HIDDEN),
        ("ja\u00adke", HIDDEN),  # a soft hyphen is invisible too
        ("ctl\u0001x", HIDDEN),
        ("jake\U000f0000", HIDDEN),
        ("jake\U000e0001", HIDDEN),
        ("\u0301", "must contain a letter or a digit"),
        ("🙂", "must contain a letter or a digit"),
        ("--", "must contain a letter or a digit"),
        ("\u0301a", "may not begin with or stack combining marks"),
        ("e\u0301\u0301", "may not begin with or stack combining marks"),  # "é" and one more acute
        ("a\u0300\u0301\u0302\u0303\u0304", "may not begin with or stack combining marks"),
        ("12\u0663", "may not mix digits of different numbering systems"),
        ("j\u0430ke", MIXED),
        ("p\u0430yp\u0430l", MIXED),
        ("jak\u03b5", MIXED),
        ("\u0438\u03b1", MIXED),
        ("kim철수タロウ", MIXED),  # Hangul with Katakana: no one writing system uses both
        ("abc\u05d0", MIXED),
        ("\u13a0\u13a1", MIXED),  # Cherokee: not among TR 31's recommended scripts
    ],
)
def test_usernames_refused_and_why(name: str, message: str) -> None:
    assert refusal(rules.username, name) == message


def test_an_email_and_its_key_both_fit_the_bound() -> None:
    local = "ß" * 120
    assert rules.email(f" {local}@x.io ") == f"{local}@x.io"  # key: 245 characters
    assert refusal(rules.email, "ß" * 125 + "@x.io") == "is too long (maximum is 254 characters)"


@pytest.mark.parametrize("address", ["a\u200b@x.io", "a\u0007@x.io", "a@x\u202e.io", "a@x.io\ue000"])
def test_an_email_with_characters_not_seen_is_invalid(address: str) -> None:
    assert refusal(rules.email, address) == "is invalid"


@pytest.mark.parametrize("empty", [None, "", "  \t"])
def test_an_empty_url_is_null(empty: str | None) -> None:
    assert rules.url(empty, "image") is None


@pytest.mark.parametrize(
    "value",
    [
        "javascript:alert(1)",
        " javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "https:",
        "https:/a.png",
        "https://",
        "https://:443/",
        "//i.example/a.png",
        "https://i.example/a\x01.png",
        "https://i.example/a\u200b.png",
        "https://a@i.example/",
        "https://a:b@i.example/",
        "https:\\\\i.example\\a.png",
        "https://i.example:-1/",
        "https://i.example:port/",
        "http://[::1",
    ],
)
def test_urls_other_than_http_and_https_with_a_host_are_refused(value: str) -> None:
    assert refusal(rules.url, value, "image") == "must be an http or https URL"


def test_a_url_is_stripped_and_held_to_its_bound() -> None:
    assert rules.url(" https://i.example/a.png\n", "image") == "https://i.example/a.png"
    start = "https://i.example/"
    assert rules.url(start + "a" * (rules.URL_MAX - len(start)), "image") is not None
    message = refusal(rules.url, start + "a" * (rules.URL_MAX + 1 - len(start)), "image")
    assert message == f"is too long (maximum is {rules.URL_MAX} characters)"


def test_prose_keeps_what_it_is_given_and_refuses_controls() -> None:
    given = " two\r\nlines\tand a mark\u200f "
    assert rules.prose(given, "body", max_length=100) == given
    assert refusal(rules.prose, "a\x1bb", "body", max_length=100) == "must not contain control characters"
    assert refusal(rules.prose, "a\u2067b", "body", max_length=100) == "must not contain control characters"
    assert refusal(rules.prose, "\u200b \n", "body", max_length=100) == "can't be blank"
    assert rules.optional_prose("\u200b \n", "bio", max_length=100) is None


def test_a_line_is_stripped_before_it_is_measured() -> None:
    assert rules.line(f"  {'x' * 10}  ", "title", max_length=10) == "x" * 10
    assert rules.line(" \u200b ", "tag", max_length=10, required=False) == ""
    assert (
        refusal(rules.line, "a\nb", "title", max_length=10) == "must be one line without control characters"
    )

"""Accounts: register, login, the viewer, updateViewer, and how tokens are read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from db.settings import Settings
from graph.node import to_global_id
from tests.support.factories import count_rows, gql, user_id, without_extensions
from tests.support.gql import REGISTER, register

LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { token viewer { email user { username } } errors { field message code } }
}
"""

VIEWER = "{ viewer { email user { id username bio image following } } }"

UPDATE_VIEWER = """
mutation UpdateViewer($input: UpdateViewerInput!) {
  updateViewer(input: $input) {
    viewer { email user { username bio image } }
    errors { field message code }
  }
}
"""


async def register_payload(client: httpx.AsyncClient, **fields: str) -> Any:
    values = {"username": "alice", "email": "alice@example.com", "password": "password123"}
    values.update(fields)
    result = await gql(client, REGISTER, {"input": values})
    assert "errors" not in result, result
    return result["data"]["register"]


async def login_payload(client: httpx.AsyncClient, email: str, password: str) -> Any:
    result = await gql(client, LOGIN, {"input": {"email": email, "password": password}})
    assert "errors" not in result, result
    return result["data"]["login"]


async def update_viewer(client: httpx.AsyncClient, token: str | None, **fields: Any) -> Any:
    result = await gql(client, UPDATE_VIEWER, {"input": fields}, token)
    assert "errors" not in result, result
    return result["data"]["updateViewer"]


def invalid(field: str, message: str, prefix: tuple[str, ...] = ("input",)) -> dict[str, Any]:
    return {"field": [*prefix, field], "message": message, "code": "INVALID"}


# --- register ---------------------------------------------------------------------------


async def test_register_returns_a_token_and_the_viewer(client: httpx.AsyncClient) -> None:
    payload = await register_payload(client)
    token = payload.pop("token")
    user_id = payload["viewer"]["user"].pop("id")
    assert payload == {"viewer": {"email": "alice@example.com", "user": {"username": "alice"}}, "errors": []}
    viewer = await gql(client, "{ viewer { email user { id username } } }", token=token)
    assert viewer == {
        "data": {"viewer": {"email": "alice@example.com", "user": {"id": user_id, "username": "alice"}}}
    }


@pytest.mark.parametrize("field", ["username", "email", "password"])
@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
async def test_register_blank_field_is_invalid(
    app: FastAPI, client: httpx.AsyncClient, field: str, blank: str
) -> None:
    payload = await register_payload(client, **{field: blank})
    assert payload == {"token": None, "viewer": None, "errors": [invalid(field, "can't be blank")]}
    assert await count_rows(app, "users") == 0


async def test_register_reports_every_bad_field_at_once(client: httpx.AsyncClient) -> None:
    payload = await register_payload(client, username="", email="nope", password="short")
    assert payload["errors"] == [
        invalid("username", "can't be blank"),
        invalid("email", "is invalid"),
        invalid("password", "is too short (minimum is 8 characters)"),
    ]


@pytest.mark.parametrize(
    ("first", "second"),
    [("alice", "ALICE"), ("alice", "ＡＬＩＣＥ"), ("Straße", "STRASSE"), ("ﬁne", "FINE")],
)
async def test_username_taken_case_insensitively_after_nfkc(
    client: httpx.AsyncClient, first: str, second: str
) -> None:
    assert (await register_payload(client, username=first, email="one@example.com"))["errors"] == []
    payload = await register_payload(client, username=second, email="two@example.com")
    assert payload == {
        "token": None,
        "viewer": None,
        "errors": [{"field": ["input", "username"], "message": "has already been taken", "code": "TAKEN"}],
    }


@pytest.mark.parametrize(
    "second", ["ALICE@EXAMPLE.COM", "ａｌｉｃｅ@ｅｘａｍｐｌｅ.ｃｏｍ", " alice@example.com "]
)
async def test_email_taken_case_insensitively_after_nfkc(client: httpx.AsyncClient, second: str) -> None:
    assert (await register_payload(client, username="one", email="alice@example.com"))["errors"] == []
    payload = await register_payload(client, username="two", email=second)
    assert payload["errors"] == [
        {"field": ["input", "email"], "message": "has already been taken", "code": "TAKEN"}
    ]


async def test_username_and_email_both_taken_are_both_reported(client: httpx.AsyncClient) -> None:
    await register_payload(client)
    payload = await register_payload(client, username="Alice", email="Alice@Example.com")
    assert payload["errors"] == [
        {"field": ["input", "username"], "message": "has already been taken", "code": "TAKEN"},
        {"field": ["input", "email"], "message": "has already been taken", "code": "TAKEN"},
    ]


async def test_concurrent_registrations_of_one_name_give_one_success_and_one_taken(
    client: httpx.AsyncClient,
) -> None:
    payloads = await asyncio.gather(
        register_payload(client, username="racer", email="one@example.com"),
        register_payload(client, username="RACER", email="two@example.com"),
    )
    errors = sorted((p["errors"] for p in payloads), key=len)
    assert errors == [
        [],
        [{"field": ["input", "username"], "message": "has already been taken", "code": "TAKEN"}],
    ]


@pytest.mark.parametrize(
    "email", ["plainaddress", "no-at.example.com", "a@b", "a b@example.com", "@example.com", "a@@example.com"]
)
async def test_email_must_look_like_an_email(client: httpx.AsyncClient, email: str) -> None:
    payload = await register_payload(client, email=email)
    assert payload == {"token": None, "viewer": None, "errors": [invalid("email", "is invalid")]}


async def test_password_shorter_than_8_is_invalid(client: httpx.AsyncClient) -> None:
    payload = await register_payload(client, password="1234567")
    assert payload["errors"] == [invalid("password", "is too short (minimum is 8 characters)")]


@pytest.mark.parametrize("password", ["12345678", "p" * 64, "long pass phrase " * 8])
async def test_password_of_8_and_of_64_or_more_characters_is_accepted(
    client: httpx.AsyncClient, password: str
) -> None:
    assert (await register_payload(client, password=password))["errors"] == []
    login = await login_payload(client, "alice@example.com", password)
    assert login["errors"] == [] and login["token"]


async def test_password_is_never_returned(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={
            "query": REGISTER,
            "variables": {"input": {"username": "a", "email": "a@example.com", "password": "secret-pass-1"}},
        },
    )
    assert "secret-pass-1" not in response.text


@pytest.mark.parametrize(("field", "length"), [("username", 65), ("email", 255), ("password", 257)])
async def test_register_input_over_its_bound_is_invalid(
    client: httpx.AsyncClient, field: str, length: int
) -> None:
    value = "x" * length if field != "email" else "x" * (length - 12) + "@example.com"
    payload = await register_payload(client, **{field: value})
    (error,) = payload["errors"]
    assert error["field"] == ["input", field] and error["code"] == "INVALID"
    assert error["message"].startswith("is too long")


@pytest.mark.parametrize("field", ["username", "email", "password"])
async def test_register_nul_character_is_invalid(client: httpx.AsyncClient, field: str) -> None:
    value = {"username": "al\x00ice", "email": "al\x00ice@example.com", "password": "pass\x00word1"}[field]
    payload = await register_payload(client, **{field: value})
    assert payload["errors"] == [invalid(field, "must not contain NUL characters")]


# The bounds hold for what is stored: the NFKC form and the key uniqueness is checked on
# (NFKC, then case-folded), which can be longer than what was sent: "ß" folds to "ss", "ﬁ" is
# "fi". The columns are sized to the bounds, so on PostgreSQL these were internal errors.
OVER_THEIR_BOUND_ONCE_NORMALISED = {
    "username-whose-key-doubles": ("username", "ß" * 40, 64),
    "username-that-nfkc-doubles": ("username", "ﬁ" * 56 + "12345678", 64),
    "email-whose-key-doubles": ("email", "ß" * 200 + "@x.io", 254),
}


@pytest.mark.parametrize(
    ("field", "value", "bound"),
    OVER_THEIR_BOUND_ONCE_NORMALISED.values(),
    ids=OVER_THEIR_BOUND_ONCE_NORMALISED,
)
async def test_register_bound_holds_for_the_stored_and_the_key_form(
    app: FastAPI, client: httpx.AsyncClient, field: str, value: str, bound: int
) -> None:
    payload = await register_payload(client, **{field: value})
    assert payload == {
        "token": None,
        "viewer": None,
        "errors": [invalid(field, f"is too long (maximum is {bound} characters)")],
    }
    assert await count_rows(app, "users") == 0


@pytest.mark.parametrize(
    ("field", "value", "bound"),
    OVER_THEIR_BOUND_ONCE_NORMALISED.values(),
    ids=OVER_THEIR_BOUND_ONCE_NORMALISED,
)
async def test_update_viewer_bound_holds_for_the_stored_and_the_key_form(
    client: httpx.AsyncClient, field: str, value: str, bound: int
) -> None:
    token = await register(client, "alice")
    payload = await update_viewer(client, token, **{field: value})
    assert payload == {
        "viewer": None,
        "errors": [invalid(field, f"is too long (maximum is {bound} characters)")],
    }
    viewer = await gql(client, "{ viewer { email user { username } } }", token=token)
    assert viewer == {"data": {"viewer": {"email": "alice@example.com", "user": {"username": "alice"}}}}


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("ß" * 32, "ß" * 32), ("e\u0301" * 40, "é" * 40), ("ﬁ" * 32, "fi" * 32)],
    ids=["key-of-64", "decomposed-80-composes-to-40", "nfkc-form-of-64"],
)
async def test_a_username_whose_stored_forms_fit_is_accepted(
    client: httpx.AsyncClient, sent: str, stored: str
) -> None:
    payload = await register_payload(client, username=sent)
    assert payload["errors"] == [] and payload["viewer"]["user"]["username"] == stored


# Names that could be read as another: each is refused beside an existing "jake".
DECEPTIVE_USERNAMES = {
    "zero-width-only": (
        "\u200b\u200b",
        "may not contain control, invisible, private-use or unassigned characters",
    ),
    "bidi-override": (
        "\u202eevil",
        "may not contain control, invisible, private-use or unassigned characters",
    ),
    "control-character": (
        "ctl\u0001x",
        "may not contain control, invisible, private-use or unassigned characters",
    ),
    "zero-width-inside": (
        "ja\u200bke",
        "may not contain control, invisible, private-use or unassigned characters",
    ),
    "word-joiner-inside": (
        "ja\u2060ke",
        "may not contain control, invisible, private-use or unassigned characters",
    ),
    "private-use": ("jake\ue000", "may not contain control, invisible, private-use or unassigned characters"),
    "unassigned": ("jake\u0378", "may not contain control, invisible, private-use or unassigned characters"),
    "lone-combining-mark": ("\u0301", "must contain a letter or a digit"),
    "punctuation-only": ("._-", "must contain a letter or a digit"),
    "leading-combining-mark": ("\u0301jake", "may not begin with or stack combining marks"),
    "repeated-combining-mark": ("jake\u0301\u0301", "may not begin with or stack combining marks"),
    "mixed-digits": ("jake1\u0661", "may not mix digits of different numbering systems"),
    "latin-with-cyrillic": (
        "j\u0430ke",
        "may not mix scripts (Latin may only be mixed with Chinese, Japanese or Korean)",
    ),
    "latin-with-greek": (
        "jak\u03b5",
        "may not mix scripts (Latin may only be mixed with Chinese, Japanese or Korean)",
    ),
    "cyrillic-with-greek": (
        "\u0438\u03b1",
        "may not mix scripts (Latin may only be mixed with Chinese, Japanese or Korean)",
    ),
}


@pytest.mark.parametrize(("name", "message"), DECEPTIVE_USERNAMES.values(), ids=DECEPTIVE_USERNAMES)
async def test_register_refuses_a_username_that_could_pass_for_another(
    app: FastAPI, client: httpx.AsyncClient, name: str, message: str
) -> None:
    await register(client, "jake")
    payload = await register_payload(client, username=name, email="other@example.com")
    assert payload == {"token": None, "viewer": None, "errors": [invalid("username", message)]}
    assert await count_rows(app, "users") == 1


@pytest.mark.parametrize(("name", "message"), DECEPTIVE_USERNAMES.values(), ids=DECEPTIVE_USERNAMES)
async def test_update_viewer_refuses_a_username_that_could_pass_for_another(
    client: httpx.AsyncClient, name: str, message: str
) -> None:
    await register(client, "jake")
    token = await register(client, "alice")
    payload = await update_viewer(client, token, username=name)
    assert payload == {"viewer": None, "errors": [invalid("username", message)]}
    assert (await gql(client, VIEWER, token=token))["data"]["viewer"]["user"]["username"] == "alice"


@pytest.mark.parametrize(
    "name",
    [
        "josé",
        "日本語",
        "Ünïcödé",
        "user_1-2.3",
        "1984",
        "Иван",
        "Ελένη",
        "tanaka太郎",
        "田中タロウ",
        "kim철수",
        "محمد٣",
        "श्रेया",
    ],
)
async def test_usernames_of_one_script_or_latin_with_cjk_are_accepted(
    client: httpx.AsyncClient, name: str
) -> None:
    payload = await register_payload(client, username=name)
    assert payload["errors"] == [] and payload["viewer"]["user"]["username"] == name
    profile = await gql(client, "query ($u: String!) { user(username: $u) { username } }", {"u": name})
    assert profile == {"data": {"user": {"username": name}}}


async def test_email_with_a_control_or_invisible_character_is_invalid(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, "alice")
    for email in ["alice\u200b@example.com", "al\u0007ice@example.com", "alice@exa\u202emple.com"]:
        payload = await register_payload(client, username="other", email=email)
        assert payload == {"token": None, "viewer": None, "errors": [invalid("email", "is invalid")]}, email
    assert await count_rows(app, "users") == 1


# --- login ------------------------------------------------------------------------------


async def test_login_returns_a_working_token(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    payload = await login_payload(client, "ALICE@example.com", "password123")
    token = payload.pop("token")
    assert payload == {
        "viewer": {"email": "alice@example.com", "user": {"username": "alice"}},
        "errors": [],
    }
    assert (await gql(client, VIEWER, token=token))["data"]["viewer"]["user"]["username"] == "alice"


async def test_login_unknown_email_and_wrong_password_are_one_bad_credentials(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "alice")
    unknown = await login_payload(client, "nobody@example.com", "password123")
    wrong = await login_payload(client, "alice@example.com", "password124")
    expected = {
        "token": None,
        "viewer": None,
        "errors": [{"field": [], "message": "email or password is invalid", "code": "BAD_CREDENTIALS"}],
    }
    assert unknown == expected
    assert wrong == expected


async def test_login_blank_email_is_invalid(client: httpx.AsyncClient) -> None:
    payload = await login_payload(client, " ", "password123")
    assert payload["errors"] == [invalid("email", "can't be blank")]


# --- viewer and updateViewer ------------------------------------------------------------


async def test_viewer_is_null_for_anonymous_requests(client: httpx.AsyncClient) -> None:
    assert await gql(client, VIEWER) == {"data": {"viewer": None}}


async def test_viewer_shows_the_signed_in_user(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    assert await gql(client, VIEWER, token=token) == {
        "data": {
            "viewer": {
                "email": "alice@example.com",
                "user": {
                    "id": to_global_id("User", await user_id(app, "alice")),
                    "username": "alice",
                    "bio": None,
                    "image": None,
                    "following": False,
                },
            }
        }
    }


async def test_update_viewer_changes_the_given_fields_only(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    payload = await update_viewer(client, token, bio="I like to skateboard", image="https://i.example/a.png")
    assert payload == {
        "viewer": {
            "email": "alice@example.com",
            "user": {"username": "alice", "bio": "I like to skateboard", "image": "https://i.example/a.png"},
        },
        "errors": [],
    }
    payload = await update_viewer(client, token, username="alicia", email="alicia@example.com")
    assert payload["viewer"] == {
        "email": "alicia@example.com",
        "user": {"username": "alicia", "bio": "I like to skateboard", "image": "https://i.example/a.png"},
    }


async def test_update_viewer_password_changes_the_login(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    assert (await update_viewer(client, token, password="new-password-1"))["errors"] == []
    assert (await login_payload(client, "alice@example.com", "password123"))["errors"][0]["code"] == (
        "BAD_CREDENTIALS"
    )
    assert (await login_payload(client, "alice@example.com", "new-password-1"))["errors"] == []


@pytest.mark.parametrize("empty", ["", None, "  "])
async def test_update_viewer_empty_bio_and_image_are_stored_as_null(
    client: httpx.AsyncClient, empty: str | None
) -> None:
    token = await register(client, "alice")
    await update_viewer(client, token, bio="bio", image="https://i.example/a.png")
    payload = await update_viewer(client, token, bio=empty, image=empty)
    assert payload == {
        "viewer": {"email": "alice@example.com", "user": {"username": "alice", "bio": None, "image": None}},
        "errors": [],
    }
    profile = await gql(client, '{ user(username: "alice") { bio image } }')
    assert profile == {"data": {"user": {"bio": None, "image": None}}}


async def test_update_viewer_to_a_taken_username_or_email_is_taken(client: httpx.AsyncClient) -> None:
    await register(client, "bob")
    token = await register(client, "alice")
    payload = await update_viewer(client, token, username="BOB")
    assert payload == {
        "viewer": None,
        "errors": [{"field": ["input", "username"], "message": "has already been taken", "code": "TAKEN"}],
    }
    payload = await update_viewer(client, token, email="Bob@Example.com")
    assert payload["errors"] == [
        {"field": ["input", "email"], "message": "has already been taken", "code": "TAKEN"}
    ]


async def test_update_viewer_keeping_own_username_in_other_case_is_allowed(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    payload = await update_viewer(client, token, username="Alice")
    assert payload["errors"] == [] and payload["viewer"]["user"]["username"] == "Alice"


@pytest.mark.parametrize("field", ["username", "email", "password"])
async def test_update_viewer_blank_or_null_required_field_is_invalid(
    client: httpx.AsyncClient, field: str
) -> None:
    token = await register(client, "alice")
    assert (await update_viewer(client, token, **{field: " "}))["errors"] == [
        invalid(field, "can't be blank")
    ]
    assert (await update_viewer(client, token, **{field: None}))["errors"] == [
        invalid(field, "can't be null")
    ]


@pytest.mark.parametrize(
    ("field", "start", "length"), [("image", "https://i.example/", 2049), ("bio", "", 4097)]
)
async def test_update_viewer_over_bound_names_the_field(
    client: httpx.AsyncClient, field: str, start: str, length: int
) -> None:
    token = await register(client, "alice")
    payload = await update_viewer(client, token, **{field: start + "h" * (length - len(start))})
    assert payload["errors"] == [invalid(field, f"is too long (maximum is {length - 1} characters)")]
    accepted = await update_viewer(client, token, **{field: start + "h" * (length - 1 - len(start))})
    assert accepted["errors"] == []


async def test_update_viewer_nul_character_is_invalid(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    payload = await update_viewer(client, token, bio="a\x00b")
    assert payload == {"viewer": None, "errors": [invalid("bio", "must not contain NUL characters")]}


@pytest.mark.parametrize(
    "bio",
    [
        "bell\u0007",
        "\u001b[2J",
        "nel\u0085",
        "del\u007f",
        "\u202eevil",
        "\u202aembedded",
        "\u2066isolated\u2069",
    ],
    ids=["bell", "escape", "c1-next-line", "delete", "right-to-left-override", "embedding", "isolate"],
)
async def test_update_viewer_bio_refuses_control_and_reordering_characters(
    client: httpx.AsyncClient, bio: str
) -> None:
    token = await register(client, "alice")
    payload = await update_viewer(client, token, bio=bio)
    assert payload == {"viewer": None, "errors": [invalid("bio", "must not contain control characters")]}
    assert (await gql(client, VIEWER, token=token))["data"]["viewer"]["user"]["bio"] is None


async def test_update_viewer_bio_keeps_line_breaks_tabs_and_direction_marks(
    client: httpx.AsyncClient,
) -> None:
    token = await register(client, "alice")
    bio = "first line\r\nsecond\tcolumn\n\u05e9\u05dc\u05d5\u05dd\u200f!"
    payload = await update_viewer(client, token, bio=bio)
    assert payload["errors"] == [] and payload["viewer"]["user"]["bio"] == bio


async def test_update_viewer_bio_of_invisible_characters_only_is_stored_as_null(
    client: httpx.AsyncClient,
) -> None:
    token = await register(client, "alice")
    await update_viewer(client, token, bio="bio")
    payload = await update_viewer(client, token, bio="\u200b\u2060 ")
    assert payload["errors"] == [] and payload["viewer"]["user"]["bio"] is None


NOT_WEB_URLS = {
    "javascript": "javascript:alert(1)",
    "javascript-upper-case": "JavaScript:alert(1)",
    "data": "data:image/svg+xml;base64,PHN2Zz4=",
    "vbscript": "vbscript:msgbox(1)",
    "ftp": "ftp://files.example/a.png",
    "relative": "/images/a.png",
    "scheme-relative": "//evil.example/a.png",
    "no-host": "https:///a.png",
    "only-a-scheme": "https://",
    "host-without-scheme": "i.example/a.png",
    "space-inside": "https://i.example/a b.png",
    "tab-inside": "java\tscript:alert(1)",
    "newline-inside": "https://i.example/\na.png",
    "backslash": "https://good.example\\@evil.example/",
    "user-before-host": "https://good.example@evil.example/a.png",
    "port-out-of-range": "https://i.example:99999/a.png",
    "broken-ipv6": "http://[::1/a.png",
    "bidi-override": "https://i.example/\u202egnp.exe",
}


@pytest.mark.parametrize("image", NOT_WEB_URLS.values(), ids=NOT_WEB_URLS)
async def test_update_viewer_image_must_be_an_http_or_https_url(
    client: httpx.AsyncClient, image: str
) -> None:
    token = await register(client, "alice")
    payload = await update_viewer(client, token, image=image)
    assert payload == {"viewer": None, "errors": [invalid("image", "must be an http or https URL")]}
    assert (await gql(client, VIEWER, token=token))["data"]["viewer"]["user"]["image"] is None


@pytest.mark.parametrize(
    ("image", "stored"),
    [
        ("https://i.example/a.png", "https://i.example/a.png"),
        ("HTTP://I.EXAMPLE/A.PNG", "HTTP://I.EXAMPLE/A.PNG"),
        ("  https://i.example/a.png?size=2#top  ", "https://i.example/a.png?size=2#top"),
        ("http://[::1]:8080/a.png", "http://[::1]:8080/a.png"),
        ("https://例え.jp/画像.png", "https://例え.jp/画像.png"),
    ],
)
async def test_update_viewer_image_accepts_http_and_https_urls(
    client: httpx.AsyncClient, image: str, stored: str
) -> None:
    token = await register(client, "alice")
    payload = await update_viewer(client, token, image=image)
    assert payload["errors"] == [] and payload["viewer"]["user"]["image"] == stored


async def test_update_viewer_without_viewer_is_unauthenticated(client: httpx.AsyncClient) -> None:
    payload = await update_viewer(client, None, bio="x")
    assert payload == {
        "viewer": None,
        "errors": [{"field": [], "message": "you must be signed in to do this", "code": "UNAUTHENTICATED"}],
    }


# --- tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer"])
async def test_authorization_accepts_bearer_and_token_schemes(client: httpx.AsyncClient, scheme: str) -> None:
    token = await register(client, "alice")
    response = await client.post(
        "/graphql",
        json={"query": "{ viewer { user { username } } }"},
        headers={"Authorization": f"{scheme} {token}"},
    )
    assert without_extensions(response.json()) == {"data": {"viewer": {"user": {"username": "alice"}}}}


def _expired(settings: Settings) -> str:
    past = datetime.now(UTC) - timedelta(hours=2)
    return jwt.encode(
        {"sub": "1", "iat": past, "exp": past + timedelta(hours=1)}, settings.secret_key, algorithm="HS256"
    )


def _bad_headers(settings: Settings, token: str) -> dict[str, str]:
    head, payload, signature = token.split(".")
    tampered_payload = jwt.utils.base64url_encode(b'{"sub":"2","exp":9999999999}').decode()
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    return {
        "malformed": "Bearer not-a-jwt",
        "empty": "Bearer ",
        "unknown scheme": f"Basic {token}",
        "expired": f"Bearer {_expired(settings)}",
        "tampered payload": f"Bearer {head}.{tampered_payload}.{signature}",
        "tampered signature": f"Bearer {head}.{payload}.{flipped}",
        "wrong key": "Bearer "
        + jwt.encode(
            {"sub": "1", "exp": datetime.now(UTC) + timedelta(hours=1)}, "k" * 40, algorithm="HS256"
        ),
        "no expiry": "Bearer " + jwt.encode({"sub": "1"}, settings.secret_key, algorithm="HS256"),
        "alg none": "Bearer " + jwt.encode({"sub": "1", "exp": 9999999999}, None, algorithm="none"),
    }


BAD_TOKENS = [
    "malformed",
    "empty",
    "unknown scheme",
    "expired",
    "tampered payload",
    "tampered signature",
    "wrong key",
    "no expiry",
    "alg none",
]


@pytest.mark.parametrize("kind", BAD_TOKENS)
async def test_bad_token_is_an_unauthenticated_error_without_data(
    client: httpx.AsyncClient, settings: Settings, kind: str
) -> None:
    token = await register(client, "alice")
    header = _bad_headers(settings, token)[kind]
    response = await client.post(
        "/graphql", json={"query": "{ viewer { email } }"}, headers={"Authorization": header}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}


async def test_expired_token_error_says_so(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{ viewer { email } }"},
        headers={"Authorization": f"Bearer {_expired(settings)}"},
    )
    assert without_extensions(response.json()) == {
        "data": None,
        "errors": [{"message": "the token has expired", "extensions": {"code": "UNAUTHENTICATED"}}],
    }


async def test_mutation_with_bad_token_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.post(
        "/graphql",
        json={
            "query": REGISTER,
            "variables": {
                "input": {"username": "bob", "email": "bob@example.com", "password": "password123"}
            },
        },
        headers={"Authorization": f"Bearer {_expired(settings)}"},
    )
    body = response.json()
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await count_rows(app, "users") == 0

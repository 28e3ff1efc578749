"""Account emails: a display name (or any other value) cannot add lines to the plain-text
body, and the greeting is bounded; display names with line breaks are refused on input."""

from __future__ import annotations

from typing import Any

import pytest

from accounts import email_flows, mailer
from accounts.models import User
from accounts.serializers import SignupIn, UserCreateIn, UserUpdateAdminIn, UserUpdateSelfIn
from tests.accounts.email_helpers import only_email_to
from tests.factories import UserFactory

INJECTED = (
    "Sam\r\n\r\nYour account is locked. Open https://evil.example/unlock\n"
    "\u2028Regards,\x0bSecurity\u202e\x00"
)
VALUES = {
    "name": INJECTED,
    "username": "sam",
    "email": "sam@example.com",
    "new_email": "new@example.com",
    "link": "https://id.example/accounts/verify-email/?token=t",
    "code": "c.t",
    "days": 3,
    "minutes": 60,
}


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def body_lines(message: Any) -> list[str]:
    body = str(message.body)
    assert not any(mailer_breaks(char) for char in body.replace("\n", ""))
    return body.splitlines()


def mailer_breaks(char: str) -> bool:
    return char in "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\u202e\x00"


@pytest.mark.parametrize("template", ["verify_email", "password_reset", "email_changed"])
def test_no_value_adds_a_line_to_a_plain_text_email(template: str) -> None:
    message = mailer.build(template=template, subject="s", to="sam@example.com", context=VALUES)

    lines = body_lines(message)

    assert lines[0].startswith("Hello Sam Your account is locked.")
    assert not any(line.startswith(("Your account", "Regards")) for line in lines)


def test_the_greeting_is_one_bounded_line(db: Any, commit: Any) -> None:
    # As stored on PostgreSQL: no NUL, at most 150 characters; the other controls are there.
    stored = (INJECTED.replace("\x00", "") * 3)[:150]
    user = UserFactory.create(email="sam@example.com", email_verified=False, display_name=stored)

    with commit(execute=True):
        email_flows.email_verification_send(user=user)

    greeting = body_lines(only_email_to("sam@example.com"))[0]
    assert greeting.startswith("Hello Sam Your account is locked.")
    assert len(greeting) <= len("Hello ,") + mailer.MAX_NAME_LENGTH
    assert greeting.endswith("…,")


@pytest.mark.parametrize(("display_name", "expected"), [("", "sam"), ("\n\t\u2028", "sam")])
def test_a_name_with_nothing_visible_greets_by_username(display_name: str, expected: str) -> None:
    assert mailer.addressee_name(display_name=display_name, username="sam") == expected


def test_a_name_is_kept_as_typed_when_it_is_one_short_line() -> None:
    name = "Zoë O'Brien 👩‍💻"

    assert mailer.addressee_name(display_name=name, username="zoe") == name


@pytest.mark.parametrize(
    "serializer", [SignupIn, UserCreateIn, UserUpdateSelfIn, UserUpdateAdminIn]
)
@pytest.mark.parametrize(
    "display_name", ["Sam\nAdmin", "Sam\rX", "Sam\tX", "Sam\u2028X", "\u202emaS"]
)
def test_a_display_name_with_line_breaks_or_controls_is_refused(
    serializer: Any, display_name: str
) -> None:
    data = {"username": "sam", "email": "sam@example.com", "password": "x" * 12}
    if serializer in (UserUpdateSelfIn, UserUpdateAdminIn):
        data = {}

    parsed = serializer(data={**data, "display_name": display_name})

    assert not parsed.is_valid()
    assert "display_name" in parsed.errors


def test_the_api_answers_400_for_a_display_name_with_a_line_break(user: User, user_client) -> None:
    response = user_client.patch(f"/api/v1/users/{user.pk}", {"display_name": "Sam\nAdmin"})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    user.refresh_from_db()
    assert "\n" not in user.display_name

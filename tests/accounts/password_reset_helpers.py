"""Helpers for the password reset tests: ask for a reset, use a code, set a password on the page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.test import Client
from rest_framework.test import APIClient

from accounts import email_flows
from accounts.models import User
from tests.accounts.email_helpers import post_form

NEW_PASSWORD = "a fresh passphrase for 2026"
PAGE = "/accounts/password-reset/"


def request_reset(email: str, *, commit, ip: str = "203.0.113.20"):
    with commit(execute=True):
        return APIClient().post(
            "/user/sendPasswordResetEmail", {"email": email}, format="json", REMOTE_ADDR=ip
        )


def reset(body: dict, *, ip: str = "203.0.113.20"):
    return APIClient().post("/user/resetPassword", body, format="json", REMOTE_ADDR=ip)


def fresh_code(user: User) -> str:
    """The code the server would mail now: from the stored row, as sign-ins restamp `last_login`."""
    user.refresh_from_db()
    uid = email_flows.password_reset_uid(user)
    return f"{uid}.{email_flows.password_reset_tokens.make_token(user)}"


def link(uidb64: str, token: str) -> str:
    """The emailed link's path and query: the code in the query string, never in the path."""
    return f"{PAGE}confirm/?{urlencode({'code': f'{uidb64}.{token}'})}"


def set_password_via_page(client: Client, uidb64: str, token: str, password: str):
    first = client.get(link(uidb64, token))
    assert first.status_code == 302  # the token moves into the session, out of the URL
    assert first["Referrer-Policy"] == "no-referrer"
    assert token not in first["Location"]
    form_url = first["Location"]
    data = {"new_password1": password, "new_password2": password}
    return post_form(client, form_url, data)

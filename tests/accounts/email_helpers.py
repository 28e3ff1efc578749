"""Helpers for the email-flow tests: read links and codes out of sent mail, call the pages."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from django.core import mail
from django.test import Client

from accounts.models import User
from tests.conftest import token_for

# The secrets travel in the query string, never in the path (access logs keep paths).
VERIFY_LINK = re.compile(r"https?://\S+/accounts/verify-email/\?token=(?P<token>[^&\s]+)")
RESET_LINK = re.compile(
    r"https?://\S+/accounts/password-reset/confirm/\?code=(?P<uidb64>[^.\s]+)\.(?P<token>[^&\s]+)"
)
RESET_CODE = re.compile(r"reset code: (?P<code>\S+)")


def only_email_to(address: str) -> mail.EmailMultiAlternatives:
    sent = [message for message in mail.outbox if address in message.to]
    assert len(sent) == 1, [message.subject for message in mail.outbox]
    assert isinstance(sent[0], mail.EmailMultiAlternatives)
    return sent[0]


def verification_token(address: str) -> str:
    match = VERIFY_LINK.search(str(only_email_to(address).body))
    assert match, "no verification link in the email"
    return unquote(match["token"])


def reset_link(address: str) -> tuple[str, str]:
    match = RESET_LINK.search(str(only_email_to(address).body))
    assert match, "no reset link in the email"
    return unquote(match["uidb64"]), unquote(match["token"])


def reset_code(address: str) -> str:
    match = RESET_CODE.search(str(only_email_to(address).body))
    assert match, "no reset code in the email"
    return match["code"]


def rpc(client: Any, method: str, body: Any = None, *, user: User | None = None, http="POST"):
    """`/user/<method>` the Micro gateway way: a JSON body whatever the verb."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(user)}"} if user else {}
    payload = body if isinstance(body, str) else json.dumps(body or {})
    return client.generic(
        http, f"/user/{method}", payload, content_type="application/json", **headers
    )


def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def csrf_token_of(client: Client, url: str) -> str:
    """GETs a page and returns the CSRF token its form carries (and the cookie is set)."""
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', response.content)
    assert match, "the form has no CSRF token"
    return match.group(1).decode()


def post_form(client: Client, url: str, data: dict[str, str], *, form_url: str | None = None):
    """Submits a form the way a browser does: GET it for the CSRF token, then POST."""
    token = csrf_token_of(client, form_url or url)
    return client.post(url, {**data, "csrfmiddlewaretoken": token})

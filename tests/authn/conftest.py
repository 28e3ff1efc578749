"""Fixtures shared by the OAuth tests: a person, their signed-in browser, a web client.

A module that needs a particular person (asserted names, a verified email) defines its own
`member`; `browser` then signs that one in.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from tests.authn.oauth_helpers import OAuthClient, make_client
from tests.factories import UserFactory


@pytest.fixture
def member(db: Any) -> User:
    return UserFactory.create()


@pytest.fixture
def browser(member: User) -> Client:
    """A dashboard session of `member` (force_login: the sign-in pages are tested elsewhere)."""
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def web_client(db: Any) -> OAuthClient:
    """A confidential authorization-code client with a registered redirect URI."""
    return make_client(name="Web app")

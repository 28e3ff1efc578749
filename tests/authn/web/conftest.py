"""Admin console fixtures: an administrator and a member signed in through the real forms."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from authn.web.console import access
from tests.authn.dashboard_helpers import enrol_totp, sign_in
from tests.factories import AdminFactory, UserFactory


@pytest.fixture
def console_admin(db: Any) -> User:
    return AdminFactory.create(username="root-admin")


@pytest.fixture
def admin_console(console_admin: User) -> Client:
    """An `api_admin` without MFA, signed in with the password."""
    client = Client()
    sign_in(client, console_admin)
    return client


@pytest.fixture
def member_console(db: Any) -> Client:
    """A user without `api_admin`, signed in."""
    client = Client()
    sign_in(client, UserFactory.create())
    return client


@pytest.fixture
def mfa_admin_console(console_admin: User) -> Client:
    """An `api_admin` with TOTP, signed in with a code just now."""
    enrol_totp(console_admin)
    client = Client()
    sign_in(client, console_admin)
    return client


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """`later(minutes)`: the clock moves on by that many minutes."""

    def move(minutes: int) -> None:
        real_time = time.time
        monkeypatch.setattr(time, "time", lambda: real_time() + minutes * 60)

    return move


PagedCheck = Callable[[Client, str, str, list[str]], None]


@pytest.fixture
def two_per_page(monkeypatch: pytest.MonkeyPatch) -> PagedCheck:
    """Console lists show two items a page. Returns `check(client, url, param, names)`: the
    three `names` (each a text only its row shows) are split over page 1 (two, and a link to
    `?<param>=2`) and page 2 (the third)."""
    monkeypatch.setattr(access, "PAGE_SIZE", 2)

    def check(client: Client, url: str, param: str, names: list[str]) -> None:
        assert len(names) == 3
        first = client.get(url).content.decode()
        second = client.get(url, {param: "2"}).content.decode()
        on_first = {name for name in names if name in first}
        on_second = {name for name in names if name in second}
        assert len(on_first) == 2, (param, on_first)
        assert on_second == set(names) - on_first, (param, on_second)
        assert f"{param}=2#" in first, param

    return check

"""Sign-in by username or email, case-insensitively, with one lookup and one password hash."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.models import User
from accounts.selectors import user_get_by_login


def login_verify(*, login: str, password: str) -> tuple[User | None, bool]:
    """(the account `login` names, whether `password` opens it and the account is active).

    An unknown name still costs one password hash, so it cannot be told apart by timing.
    """
    user = user_get_by_login(login=login)
    return user, password_verify(user=user, password=password)


def password_verify(*, user: User | None, password: str) -> bool:
    """Whether `password` opens the active account `user`; None costs the same one hash."""
    if user is None:
        User().set_password(password)
        return False
    return user.check_password(password) and user.is_active


class CaseInsensitiveModelBackend(ModelBackend):
    """Django's backend (admin sign-in, `authenticate()`) over `login_verify`."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None or password is None:
            return None
        user, ok = login_verify(login=username, password=password)
        return user if ok else None

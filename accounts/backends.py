"""Sign-in by username or email, case-insensitively, with Django's timing-safe ModelBackend."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.models import User, iequals


class CaseInsensitiveModelBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None or password is None:
            return None
        if "@" in username:  # usernames cannot hold "@": this is an email address
            user = User.objects.exclude(email="").filter(iequals("email", username)).first()
            if user is None:
                # Hash anyway so an unknown email costs the same as a wrong password.
                User().set_password(password)
                return None
            if user.check_password(password) and self.user_can_authenticate(user):
                return user
            return None
        result = super().authenticate(request, username=username, password=password, **kwargs)
        return result if isinstance(result, User) else None

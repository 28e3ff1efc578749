"""Deletes expired credential state: refresh tokens, sessions, revocations, retired keys."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from authn.models import RefreshToken, Session, TokenFamily
from authn.services.revocation import revocations_cleanup
from authn.services.signing_keys import signing_keys_cleanup


class Command(BaseCommand):
    help = "Delete expired refresh tokens, sessions, revocation rows and retired signing keys."

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        # delete()[0] also counts cascaded rows: count each model on its own line instead.
        families = TokenFamily.objects.filter(expires_at__lte=now).delete()[1]
        refresh_tokens = RefreshToken.objects.filter(expires_at__lte=now).delete()[1]
        refresh_label = RefreshToken._meta.label
        counts = {
            "token families": families.get(TokenFamily._meta.label, 0),
            "refresh tokens": families.get(refresh_label, 0) + refresh_tokens.get(refresh_label, 0),
            "sessions": Session.objects.filter(expires_at__lte=now).delete()[0],
            "revocations": revocations_cleanup(),
            "signing keys": signing_keys_cleanup(),
        }
        for name, count in counts.items():
            self.stdout.write(f"{name}: {count} deleted")

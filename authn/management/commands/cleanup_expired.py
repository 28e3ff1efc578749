"""Deletes expired credential state: refresh tokens, sessions, revocations, retired keys,
brute-force counters, API keys a month after they ended, and expired OAuth 2.0 state."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone
from oauth2_provider.models import DeviceGrant, clear_expired

from authn.models import (
    ApiKey,
    DashboardSession,
    OAuthCodeUse,
    RefreshToken,
    Session,
    TokenFamily,
)
from authn.oauth.sign_ins import oauth_sign_ins_cleanup
from authn.tokens.revocation import revocations_cleanup
from authn.tokens.signing_keys import signing_keys_cleanup
from micro_platform.counters import counters_cleanup

# Expired and revoked keys stay listed (greyed) for a while so their owners see what ended.
API_KEY_RETENTION = timedelta(days=30)


def _api_keys_cleanup(now: datetime) -> int:
    cutoff = now - API_KEY_RETENTION
    dead = ApiKey.objects.filter(Q(expires_at__lte=cutoff) | Q(revoked_at__lte=cutoff))
    return dead.delete()[0]


class Command(BaseCommand):
    help = (
        "Delete expired refresh tokens, sessions, revocation rows, retired signing keys, counters,"
        " API keys 30 days after they expired or were revoked, and expired OAuth 2.0 tokens,"
        " codes and device codes, and the sign-in records of grants no token can use any more."
    )

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
            "dashboard sessions": DashboardSession.objects.filter(expire_date__lte=now).delete()[0],
            "API keys": _api_keys_cleanup(now),
            "counters": counters_cleanup(),
            "OAuth device codes": DeviceGrant.objects.filter(expires__lte=now).delete()[0],
            "OAuth code records": OAuthCodeUse.objects.filter(expires_at__lte=now).delete()[0],
        }
        # django-oauth-toolkit's own sweep: expired access, refresh and ID tokens and codes.
        clear_expired()
        # After it: a federated grant's record goes with its family's last refresh token.
        counts["OAuth sign-in records"] = oauth_sign_ins_cleanup()
        for name, count in counts.items():
            self.stdout.write(f"{name}: {count} deleted")
        self.stdout.write("OAuth access, refresh and ID tokens and codes: expired ones deleted")

"""The sign-in an OAuth grant was approved in, carried by the grant's tokens.

The consent and device pages sit behind the dashboard sign-in. A federated one (`fed`) or a
passkey one (`hwk`/`swk`) is recorded with the grant (its authorization code or device code),
moved to the token family when the code is exchanged, and read again on every refresh, so
each token of the grant says how the person signed in: `amr` = ["fed", ...upstream] and `idp`,
or the passkey's values (["hwk", "user"], or ["pwd", "hwk", "user", "mfa"] after a password),
never a `pwd` that was not typed. Nothing is recorded for a password sign-in: its tokens carry
`pwd` as they always have.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone
from oauth2_provider.models import get_refresh_token_model

from authn.models import OAuthSignIn
from authn.sessions.proof import session_amr, session_sign_in_facts
from micro_platform.sign_in import PASSKEY_AMR

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
# A code's or device code's record outlives any code: they expire within minutes, and an
# exchanged one's record is deleted at once. A family's record is kept while a refresh token
# of the family is stored, and for this long at least.
RECORD_GRACE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SignInFacts:
    amr: tuple[str, ...]
    # The identity provider of a federated sign-in; None for a passkey sign-in.
    idp: str | None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def code_key(code: str) -> str:
    return f"code:{_digest(code)}"


def device_key(device_code: str) -> str:
    return f"device:{_digest(device_code)}"


def family_key(family: uuid.UUID | str) -> str:
    return f"family:{family}"


def session_facts(session: SessionBase | None) -> SignInFacts | None:
    """The session's federated or passkey sign-in, or None for a password sign-in."""
    amr, idp = session_sign_in_facts(session)
    if idp is not None:
        return SignInFacts(amr=amr, idp=idp)
    # Only the values checked here: those the session's own principal carries.
    checked = session_amr(session)
    if any(value in checked for value in PASSKEY_AMR):
        return SignInFacts(amr=checked, idp=None)
    return None


def oauth_sign_in_record(*, key: str, facts: SignInFacts | None) -> None:
    """Records a federated or passkey sign-in under `key` (the same facts again change
    nothing)."""
    if facts is None:
        return
    OAuthSignIn.objects.update_or_create(
        key=key, defaults={"amr": list(facts.amr), "idp": facts.idp or ""}
    )


def grant_key(request: Any) -> str | None:
    """The key a token request's code or device code was recorded under (None otherwise)."""
    if request.grant_type == "authorization_code" and request.code:
        return code_key(request.code)
    if request.grant_type == DEVICE_CODE and request.device_code:
        return device_key(request.device_code)
    return None


def oauth_sign_in_forget(*, key: str | None) -> None:
    """Deletes the record of a code once it is exchanged (its family's record stays)."""
    if key is not None:
        OAuthSignIn.objects.filter(key=key).delete()


def oauth_sign_in_get(*, key: str) -> SignInFacts | None:
    row = OAuthSignIn.objects.filter(key=key).first()
    if row is None:
        return None
    return SignInFacts(amr=tuple(str(value) for value in row.amr), idp=row.idp or None)


def request_facts(request: Any) -> SignInFacts | None:
    """The sign-in facts a token request found for its grant (set by the validator)."""
    facts = getattr(request, "micro_sign_in", None)
    return facts if isinstance(facts, SignInFacts) else None


def oauth_sign_ins_cleanup() -> int:
    """Deletes the records no token can read any more: those of codes never exchanged, and
    those of token families none of whose refresh tokens is stored (run after the toolkit's
    own sweep of expired tokens). Returns how many were deleted."""
    cutoff = timezone.now() - RECORD_GRACE
    old = OAuthSignIn.objects.filter(created_at__lte=cutoff)
    codes = old.exclude(key__startswith="family:").delete()[0]
    live = {
        family_key(family)
        for family in get_refresh_token_model()
        .objects.exclude(token_family=None)
        .values_list("token_family", flat=True)
        .distinct()
    }
    dead = [
        key
        for key in old.filter(key__startswith="family:").values_list("key", flat=True)
        if key not in live
    ]
    families = OAuthSignIn.objects.filter(key__in=dead).delete()[0]
    return codes + families

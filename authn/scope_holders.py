"""The scopes API keys and OAuth clients hold, for the registry (permissions.ports): a scope in
use is not deleted unless forced, which takes it from live keys (a key left with no scope is
revoked) and ends the OAuth tokens and pending codes that carry it."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model

from authn.api_keys import cache as api_key_cache
from authn.api_keys.services import api_key_revoke
from authn.models import ApiKey
from micro_platform.identity import Principal


def _live_keys_holding(names: frozenset[str]) -> list[ApiKey]:
    live = ApiKey.objects.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())
    return [key for key in live if names & set(key.scopes)]


def _carrying(names: frozenset[str]) -> Q:
    # OAuth scope strings are space-separated; a name is matched whole, not as a substring.
    carried = Q()
    for name in names:
        carried |= (
            Q(scope=name)
            | Q(scope__startswith=f"{name} ")
            | Q(scope__endswith=f" {name}")
            | Q(scope__contains=f" {name} ")
        )
    return carried


def _live_oauth_tokens(names: frozenset[str]) -> list[object]:
    tokens = get_access_token_model().objects.filter(_carrying(names), expires__gt=timezone.now())
    return list(tokens.select_related("refresh_token"))


def scope_uses(names: frozenset[str]) -> dict[str, int]:
    clients = {token.application_id for token in _live_oauth_tokens(names)}  # type: ignore[attr-defined]
    pending = get_grant_model().objects.filter(_carrying(names), expires__gt=timezone.now())
    clients |= set(pending.values_list("application_id", flat=True))
    clients.discard(None)
    return {"api_keys": len(_live_keys_holding(names)), "oauth_clients": len(clients)}


def scope_remove(names: frozenset[str], *, actor: Principal | None) -> None:
    for key in _live_keys_holding(names):
        remaining = sorted(set(key.scopes) - names)
        if remaining:
            ApiKey.objects.filter(pk=key.pk).update(scopes=remaining)
            api_key_cache.user_changed(user_id=key.owner_id)
        else:
            api_key_revoke(api_key=key, actor=actor)
    for token in _live_oauth_tokens(names):
        # Revoking the refresh token revokes its access token too; deleting the access
        # token's row revokes its JWT at once (authn.signals).
        refresh = getattr(token, "refresh_token", None)
        if refresh is not None:
            refresh.revoke()
        else:
            token.revoke()  # type: ignore[attr-defined]
    get_grant_model().objects.filter(_carrying(names)).delete()

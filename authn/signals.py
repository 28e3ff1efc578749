"""Reactions to identity changes made outside the services (e.g. a delete in the admin)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from authn.api_keys import cache as api_key_cache
from authn.oauth.redirect_uris import URI_FIELDS, application_uri_errors
from authn.tokens import revocation


def revoke_tokens_of_deleted_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A hard-deleted user's stateless access tokens stop working at once, like a deactivation."""
    revocation.revoke_subject(user_id=str(instance.pk))


def revoke_deleted_oauth_access_token(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A deleted OAuth 2.0 access token row: its JWT stops working at once."""
    if instance.token_checksum and instance.expires:
        revocation.revoke_access_token_digest(
            digest=instance.token_checksum, expires_at=instance.expires
        )


# User fields that no cached key entry and no remembered public view holds: a save of these
# alone (Django's `update_last_login` on each dashboard sign-in) leaves them current, and
# dropping them would make every process read them all again.
_UNCACHED_USER_FIELDS = frozenset({"last_login"})


def api_keys_of_user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A saved or deleted user (scopes, activation), membership or API key (an edit in the
    admin site, say): the user's cached key entries are re-read."""
    model = sender._meta.model_name
    update_fields = kwargs.get("update_fields")
    if model == "user" and update_fields and _UNCACHED_USER_FIELDS.issuperset(update_fields):
        return
    if model == "user":
        user_id = instance.pk
    elif model == "apikey":
        user_id = instance.owner_id
    else:
        user_id = instance.user_id
    api_key_cache.user_changed(user_id=user_id)


def api_keys_of_groups_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A saved or deleted group, role, role assignment or registered scope may change what
    many users hold: every key is re-read once the change's own database commits."""
    api_key_cache.groups_changed(using=kwargs.get("using"))


def refuse_unsafe_redirect_uris(sender: Any, instance: Any, **kwargs: Any) -> None:
    """No OAuth 2.0 client is stored with a redirect URI the rule refuses (https, or http to a
    loopback IP address), whichever path saves it; the forms report it first, per field."""
    update_fields = kwargs.get("update_fields")
    fields = URI_FIELDS if update_fields is None else set(URI_FIELDS) & set(update_fields)
    errors = application_uri_errors(instance, fields=fields)
    if errors:
        raise ValidationError(errors)

"""Writes of identity providers and of accounts' links to them.

Every value is checked here, so the API, the management command and the admin console share one
validation path; each change is audited in its transaction. The client secret is sealed
(authn.encryption) and never read back out for anyone: no answer, event, log line or page
carries it, and events name the changed fields, never their values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import Group, User
from accounts.validators import DISPLAY_NAME_PATTERN
from audit.services import audit_record
from authn.models import ExternalIdentity, IdentityProvider
from micro_platform.identity import Principal

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,49}$"
DISPLAY_NAME_MAX_LENGTH = 100
ISSUER_MAX_LENGTH = 500
CLIENT_ID_MAX_LENGTH = 255
CLIENT_SECRET_MAX_LENGTH = 2000
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
# https to any host; plain http only to this machine (a provider for tests or development).
# No user info, query or fragment: an issuer is compared as a string with the ID token's `iss`.
ISSUER_PATTERN = (
    rf"^(?:https://{_LABEL}(?:\.{_LABEL})*|http://(?:127\.0\.0\.1|\[::1\]|localhost))"
    rf"(?::{_PORT})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)*$"
)
# A scope-token of RFC 6749 (section 3.3): printable ASCII without space, `"` and `\`.
SCOPE_TOKEN_PATTERN = r"^[!#-\[\]-~]+$"  # noqa: S105 - a pattern, not a secret
SCOPE_MAX_LENGTH = 255
MAX_SCOPES = 50
DEFAULT_SCOPES = ("openid", "email", "profile")
DOMAIN_PATTERN = rf"^(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?$"
DOMAIN_MAX_LENGTH = 253
MAX_DOMAINS = 100
# A claim name: printable ASCII without space (namespaced claims are URLs).
CLAIM_NAME_PATTERN = r"^[!-~]+$"
CLAIM_NAME_MAX_LENGTH = 255
CLAIM_KEYS = ("username", "email", "display_name", "avatar", "groups")
GROUP_NAME_MAX_LENGTH = 255

FIELDS = (
    "slug",
    "display_name",
    "issuer",
    "client_id",
    "client_secret",
    "scopes",
    "enabled",
    "create_accounts",
    "allowed_email_domains",
    "link_by_verified_email",
    "enforces_mfa",
    "use_userinfo",
    "claim_mapping",
    "group_mapping",
)
REQUIRED_FIELDS = ("slug", "issuer", "client_id")
DEFAULTS: Mapping[str, Any] = {
    "client_secret": "",
    "scopes": list(DEFAULT_SCOPES),
    "enabled": True,
    "create_accounts": False,
    "allowed_email_domains": [],
    "link_by_verified_email": False,
    "enforces_mfa": False,
    "use_userinfo": False,
    "claim_mapping": {},
    "group_mapping": {},
}


class Conflict(Exception):
    """The slug is another provider's (409 `unique`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class UnknownGroup(ValidationError):
    """A group mapping names a local group that does not exist: the API answers it as a 404
    `group_not_found` with the field's message (whether a group exists is not a form rule)."""


class LastSignInMethod(Exception):
    """Removing this link would leave the account no way to sign in (409)."""

    code = "last_sign_in_method"
    message = (
        "This is the account's last way to sign in: set a password or link another provider"
        " before removing it."
    )


def redirect_uri(provider: IdentityProvider) -> str:
    """The absolute callback URL to register at the provider."""
    return f"{settings.MICRO_ISSUER}/accounts/federation/{provider.slug}/callback/"


# --- Checks -------------------------------------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _text(value: object, *, max_length: int, what: str, strip: bool = True) -> str:
    if not isinstance(value, str) or "\x00" in value:
        raise _Invalid(f"Give {what} as text.")
    cleaned = value.strip() if strip else value
    if len(cleaned) > max_length:
        raise _Invalid(f"Give {what} of at most {max_length} characters.")
    return cleaned


def _matching(value: object, pattern: str, *, max_length: int, what: str, message: str) -> str:
    text = _text(value, max_length=max_length, what=what, strip=False)
    if re.fullmatch(pattern.removeprefix("^").removesuffix("$"), text) is None:
        raise _Invalid(message)
    return text


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("Give true or false.")
    return value


def _list(value: object, *, max_items: int) -> list[object]:
    if not isinstance(value, list | tuple):
        raise _Invalid("Give a list.")
    if len(value) > max_items:
        raise _Invalid(f"Give at most {max_items} values.")
    return list(value)


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def check_slug(value: object) -> str:
    return _matching(
        value,
        SLUG_PATTERN,
        max_length=50,
        what="a slug",
        message="A slug is 1-50 lower-case letters, digits and hyphens, starting with a letter"
        " or digit.",
    )


def check_display_name(value: object) -> str:
    """The display name; "" stands for the slug."""
    name = _text(value, max_length=DISPLAY_NAME_MAX_LENGTH, what="a display name")
    if re.fullmatch(DISPLAY_NAME_PATTERN[1:-1], name) is None:
        raise _Invalid("Give a display name without line breaks or control characters.")
    return name


def check_issuer(value: object) -> str:
    """The issuer exactly as given (it is compared character by character with the discovery
    document's `issuer` and the ID token's `iss`, so a provider whose issuer ends in a slash
    keeps it): https, or http on a loopback host; no query or fragment."""
    issuer = _matching(
        value,
        ISSUER_PATTERN,
        max_length=ISSUER_MAX_LENGTH,
        what="an issuer URL",
        message="An issuer is an https URL (http only on 127.0.0.1, [::1] or localhost) without"
        " user info, query or fragment.",
    )
    return issuer


def check_client_id(value: object) -> str:
    client_id = _text(value, max_length=CLIENT_ID_MAX_LENGTH, what="a client id")
    if not client_id:
        raise _Invalid("Give the client id the provider issued.")
    return client_id


def check_client_secret(value: object) -> str:
    return _text(value, max_length=CLIENT_SECRET_MAX_LENGTH, what="a client secret", strip=False)


def check_scopes(value: object) -> list[str]:
    scopes = _unique(
        [
            _matching(
                scope,
                SCOPE_TOKEN_PATTERN,
                max_length=SCOPE_MAX_LENGTH,
                what="a scope",
                message=f"A scope is a token of printable characters without spaces: {scope!r}.",
            )
            for scope in _list(value, max_items=MAX_SCOPES)
        ]
    )
    if "openid" not in scopes:
        raise _Invalid("The scopes must include openid (this is an OpenID Connect sign-in).")
    return scopes


def check_domains(value: object) -> list[str]:
    return _unique(
        [
            _matching(
                domain,
                DOMAIN_PATTERN,
                max_length=DOMAIN_MAX_LENGTH,
                what="a domain",
                message=f"Not a domain name: {domain!r} (e.g. example.com).",
            ).lower()
            for domain in _list(value, max_items=MAX_DOMAINS)
        ]
    )


def check_claim_mapping(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Invalid("Give an object of local field to claim name.")
    unknown = sorted(str(key) for key in value if key not in CLAIM_KEYS)
    if unknown:
        raise _Invalid(f"Only {', '.join(CLAIM_KEYS)} can be mapped, not {', '.join(unknown)}.")
    return {
        key: _matching(
            claim,
            CLAIM_NAME_PATTERN,
            max_length=CLAIM_NAME_MAX_LENGTH,
            what="a claim name",
            message=f"A claim name is printable characters without spaces ({key}).",
        )
        for key, claim in value.items()
    }


def check_group_mapping_form(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Invalid("Give an object of upstream group name to local group name.")
    for upstream, local in value.items():
        _text(upstream, max_length=GROUP_NAME_MAX_LENGTH, what="an upstream group name")
        _text(local, max_length=GROUP_NAME_MAX_LENGTH, what="a local group name", strip=False)
    return dict(value)


def check_group_mapping(value: dict[str, str]) -> dict[str, str]:
    """The mapping with each local group's name as stored (names match without case); an
    unknown local group raises UnknownGroup."""
    wanted = {str(local).lower() for local in value.values()}
    query = Q()
    for name in wanted:
        query |= Q(name__iexact=name)
    stored = Group.objects.filter(query).values_list("name", flat=True) if wanted else []
    names = {name.lower(): name for name in stored}
    missing = sorted({str(local) for local in value.values() if str(local).lower() not in names})
    if missing:
        raise UnknownGroup(
            {"group_mapping": [f"No local group named {', '.join(map(repr, missing))}."]},
            code="group_not_found",
        )
    return {str(upstream): names[str(local).lower()] for upstream, local in value.items()}


CHECKS: Mapping[str, Callable[[object], object]] = {
    "slug": check_slug,
    "display_name": check_display_name,
    "issuer": check_issuer,
    "client_id": check_client_id,
    "client_secret": check_client_secret,
    "scopes": check_scopes,
    "enabled": _flag,
    "create_accounts": _flag,
    "allowed_email_domains": check_domains,
    "link_by_verified_email": _flag,
    "enforces_mfa": _flag,
    "use_userinfo": _flag,
    "claim_mapping": check_claim_mapping,
    "group_mapping": check_group_mapping_form,
}


def clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """Each value checked and normalised; a ValidationError names every field refused (the
    local groups are looked up only when every field's form is right)."""
    errors: dict[str, list[str]] = {
        name: ["Unknown field."] for name in sorted(set(values) - set(FIELDS))
    }
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name in errors:
            continue
        try:
            cleaned[name] = CHECKS[name](value)
        except _Invalid as exc:
            errors[name] = [exc.message]
    if errors:
        raise ValidationError(errors, code="invalid")
    if "group_mapping" in cleaned:
        cleaned["group_mapping"] = check_group_mapping(cleaned["group_mapping"])
    return cleaned


# --- Providers ----------------------------------------------------------------------------------


def _audit(
    *, type: str, actor: Principal | None, provider: IdentityProvider, data: dict[str, Any]
) -> None:
    audit_record(
        type=type,
        actor=actor,
        subject_type="identity_provider",
        subject_id=provider.pk,
        data={"slug": provider.slug, **data},
    )


def _taken(slug: str) -> Conflict:
    return Conflict("slug", f"An identity provider with the slug {slug!r} exists.")


def identity_provider_create(
    *, actor: Principal | None, via: str, values: Mapping[str, Any]
) -> IdentityProvider:
    """Adds a provider from `values` (slug, issuer and client_id required; the display name
    defaults to the slug, the rest to DEFAULTS)."""
    missing = [name for name in REQUIRED_FIELDS if name not in values]
    if missing:
        raise ValidationError({name: ["This field is required."] for name in missing})
    cleaned = clean({**DEFAULTS, **values})
    cleaned["display_name"] = cleaned.get("display_name") or cleaned["slug"]
    secret = cleaned.pop("client_secret")
    if IdentityProvider.objects.filter(slug=cleaned["slug"]).exists():
        raise _taken(cleaned["slug"])
    provider = IdentityProvider(**cleaned)
    provider.set_client_secret(secret)
    try:
        with transaction.atomic():
            provider.save(force_insert=True)
            _audit(
                type="identity_provider.created",
                actor=actor,
                provider=provider,
                data={"fields": sorted(values), "via": via},
            )
    except IntegrityError as exc:  # the same slug added at the same moment
        raise _taken(cleaned["slug"]) from exc
    return provider


def identity_provider_update(
    *, actor: Principal | None, via: str, provider: IdentityProvider, changes: Mapping[str, Any]
) -> IdentityProvider:
    """Changes the given fields (a client secret given replaces the stored one; "" makes a
    public client); the slug never changes, being in the redirect URI registered upstream.
    No change, no event."""
    if "slug" in changes and changes["slug"] != provider.slug:
        raise ValidationError(
            {
                "slug": [
                    "The slug never changes: the redirect URI registered at the provider"
                    " contains it. Add a new provider instead."
                ]
            },
            code="immutable",
        )
    cleaned = clean({name: value for name, value in changes.items() if name != "slug"})
    if cleaned.get("display_name") == "":
        cleaned["display_name"] = provider.slug
    changed = sorted(
        name
        for name, value in cleaned.items()
        if name == "client_secret" or getattr(provider, name) != value
    )
    if not changed:
        return provider
    with transaction.atomic():
        for name in changed:
            if name == "client_secret":
                provider.set_client_secret(cleaned[name])
            else:
                setattr(provider, name, cleaned[name])
        stored = [
            "client_secret_encrypted" if name == "client_secret" else name for name in changed
        ]
        provider.save(update_fields=[*stored, "updated_at"])
        _audit(
            type="identity_provider.updated",
            actor=actor,
            provider=provider,
            data={"fields": changed, "via": via},
        )
    return provider


def identity_provider_delete(
    *, actor: Principal | None, via: str, provider: IdentityProvider
) -> int:
    """Deletes the provider and every account's link to it; returns how many links went."""
    with transaction.atomic():
        links = ExternalIdentity.objects.filter(provider=provider)
        count = links.count()
        _audit(
            type="identity_provider.deleted",
            actor=actor,
            provider=provider,
            data={"identities": count, "via": via},
        )
        links.delete()
        provider.delete()
    return count


# --- Links --------------------------------------------------------------------------------------


def _passwordless_passkey(user: User) -> bool:
    """Whether the user has an enabled discoverable passkey: a sign-in without a password.
    (The passkey model is read directly: authn.mfa sits beside this package.)"""
    return WebAuthnCredential.objects.filter(user=user, confirmed=True, discoverable=True).exists()


def external_identity_unlink(
    *, actor: Principal | None, identity: ExternalIdentity, via: str
) -> None:
    """Removes an account's link to a provider, unless it is the account's last way to sign
    in (no usable password, no other link to an enabled provider and no enabled passkey that
    signs in without a password): LastSignInMethod then."""
    with transaction.atomic():
        # The account's row is locked so that two removals at once cannot each see the other
        # link as the remaining way in and leave none.
        user = User.objects.select_for_update().get(pk=identity.user_id)
        # A link to a disabled provider signs nobody in, so it is not a way left.
        others = (
            ExternalIdentity.objects.filter(user=user, provider__enabled=True)
            .exclude(pk=identity.pk)
            .exists()
        )
        if not others and not user.has_usable_password() and not _passwordless_passkey(user):
            raise LastSignInMethod(LastSignInMethod.message)
        audit_record(
            type="external_identity.unlinked",
            actor=actor,
            subject_type="user",
            subject_id=user.pk,
            data={"idp": identity.provider.slug, "subject": identity.subject, "via": via},
        )
        identity.delete()

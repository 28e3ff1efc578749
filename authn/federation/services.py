"""Accounts and links of federated sign-ins: who an upstream sign-in is here.

Never link by email silently: an existing account with the upstream's email is linked only
when the provider may link by verified email, the upstream says the email is verified *and*
the account here has verified it too; otherwise the person proves they own the account by
signing in to it first.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Group, Membership, User
from audit.services import audit_record
from authn.federation.claims import Upstream
from authn.federation.errors import FederationRefused
from authn.identity_providers.selectors import external_identity_find, identity_provider_get
from authn.models import ExternalIdentity, IdentityProvider

# What accounts.models.username_validator allows (no "@": that makes a name an email).
_USERNAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]")


@dataclass(frozen=True, slots=True)
class Resolution:
    """The local user of an upstream sign-in, or None when the person must first sign in to
    the existing account with the upstream's email to link it."""

    user: User | None
    # The existing account was matched by verified email: link it once the sign-in completes.
    link_by_email: bool = False


def federation_refused_record(*, slug: str, reason: str, ip_address: str | None) -> None:
    """Audits a refused federated sign-in (`federation.refused` with its reason code)."""
    with transaction.atomic():
        audit_record(
            type="federation.refused",
            actor=None,
            subject_type="identity_provider",
            subject_id=slug,
            ip_address=ip_address,
            data={"idp": slug, "reason": reason},
        )


def email_domain_check(*, provider: IdentityProvider, upstream: Upstream) -> None:
    """Refuses (`email_domain`) an upstream email outside the provider's allowed domains."""
    allowed = {str(domain).lower().lstrip("@") for domain in provider.allowed_email_domains or []}
    if not allowed:
        return
    domain = upstream.email.rpartition("@")[2].lower() if "@" in upstream.email else ""
    if domain not in allowed:
        raise FederationRefused(
            "email_domain", "Your account at this provider is not in a domain allowed here."
        )


def federated_user_resolve(
    *, provider: IdentityProvider, upstream: Upstream, ip_address: str | None
) -> Resolution:
    """The user this upstream sign-in is: the linked one, an existing account linked by a
    verified email (when the provider allows it), or a new account (when it creates them).

    Resolution(user=None) means an account has this email but may not be linked silently.
    Raises FederationRefused for an inactive user or when nothing may be linked or created.
    """
    email_domain_check(provider=provider, upstream=upstream)
    identity = external_identity_find(provider=provider, subject=upstream.subject)
    if identity is not None:
        if not identity.user.is_active:
            raise FederationRefused("inactive", "This account is deactivated.")
        ExternalIdentity.objects.filter(pk=identity.pk).update(
            last_used_at=timezone.now(), email=upstream.email[:254]
        )
        return Resolution(user=identity.user)
    existing = _user_with_email(upstream.email)
    if existing is not None:
        # Both sides must have verified the address: an account here whose email nobody
        # confirmed may have been registered by someone else with a victim's address, and
        # linking the victim's upstream sign-in to it would sign them in to that account.
        verified = upstream.email_verified and existing.email_verified
        if not (provider.link_by_verified_email and verified):
            return Resolution(user=None)
        if not existing.is_active:
            raise FederationRefused("inactive", "This account is deactivated.")
        # Linked only when the sign-in completes (federated_email_link), after the account's
        # own second factor if it has one: a sign-in stopped at that step leaves no link.
        return Resolution(user=existing, link_by_email=True)
    if not provider.create_accounts:
        raise FederationRefused(
            "not_linked",
            "No account here is linked to this sign-in. Ask an administrator for an account.",
        )
    return Resolution(
        user=federated_account_create(provider=provider, upstream=upstream, ip_address=ip_address)
    )


def _user_with_email(email: str) -> User | None:
    if not email:
        return None
    return User.objects.filter(email__iexact=email, kind=User.Kind.USER).first()


def external_identity_link(
    *, provider: IdentityProvider, user: User, upstream: Upstream, via: str
) -> ExternalIdentity:
    """Links the upstream account to `user` and audits `external_identity.linked`.

    Raises FederationRefused (`already_linked`) when the upstream account is linked to
    someone else, or `user` already has a link with this provider."""
    try:
        with transaction.atomic():
            identity = ExternalIdentity.objects.create(
                provider=provider,
                subject=upstream.subject,
                user=user,
                email=upstream.email[:254],
                last_used_at=timezone.now(),
            )
            audit_record(
                type="external_identity.linked",
                actor=user.pk,
                subject_type="user",
                subject_id=user.pk,
                data={"idp": provider.slug, "subject": upstream.subject, "via": via},
            )
    except IntegrityError as exc:
        raise FederationRefused(
            "already_linked",
            "This sign-in is already linked to an account, or yours has a link to this provider.",
        ) from exc
    return identity


def federated_account_create(
    *, provider: IdentityProvider, upstream: Upstream, ip_address: str | None
) -> User:
    """A new account (no usable password) for a first sign-in, linked and audited."""
    user = User(
        username=_unique_username(upstream),
        email=User.objects.normalize_email(upstream.email),
        email_verified=bool(upstream.email) and upstream.email_verified,
        display_name=upstream.display_name[:150],
        avatar_url=upstream.avatar if _usable_avatar(upstream.avatar) else "",
    )
    user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
            audit_record(
                type="user.created",
                actor=None,
                subject_type="user",
                subject_id=user.pk,
                ip_address=ip_address,
                data={"kind": user.kind, "username": user.username, "via": "federation"},
            )
            external_identity_link(
                provider=provider, user=user, upstream=upstream, via="federation"
            )
    except IntegrityError as exc:  # a concurrent first sign-in won the race
        raise FederationRefused("conflict", "Try signing in again.") from exc
    return user


def _unique_username(upstream: Upstream) -> str:
    """The mapped username (else the email's local part) in the local username alphabet,
    with a random suffix when it is taken."""
    sources = (upstream.username, upstream.email.partition("@")[0])
    cleaned = (_USERNAME_UNSAFE.sub("", source)[:120] for source in sources)
    base = next((name for name in cleaned if name), "user")
    candidate = base
    while User.objects.filter(username__iexact=candidate).exists():
        candidate = f"{base}-{uuid.uuid4().hex[:6]}"
    return candidate


def federated_groups_apply(*, slug: str, user: User, groups: Collection[str]) -> None:
    """Adds memberships in the local groups the provider maps these upstream groups to (only
    adds); call when the federated sign-in completes (after the local code step, if any)."""
    provider = identity_provider_get(slug=slug)
    mapping = provider.group_mapping if provider is not None else None
    if not isinstance(mapping, dict):
        return
    names = {mapping[name] for name in groups if name in mapping and isinstance(mapping[name], str)}
    for name in sorted(names):
        found = list(Group.objects.filter(name=name)[:2])
        if len(found) != 1:  # unknown or ambiguous: never guess
            continue
        with transaction.atomic():
            membership, created = Membership.objects.get_or_create(
                group=found[0], user=user, defaults={"role": Membership.Role.MEMBER}
            )
            if created:
                audit_record(
                    type="group.member_added",
                    actor=None,
                    subject_type="group",
                    subject_id=found[0].pk,
                    data={"user_id": str(user.pk), "role": membership.role},
                )


def federated_email_link(*, slug: str, user: User, upstream: Upstream) -> None:
    """Links a sign-in matched to `user` by verified email, now that it completed (after the
    local code step, if any). Already linked (a concurrent sign-in did it) changes nothing."""
    provider = identity_provider_get(slug=slug)
    if provider is None:
        return
    try:
        external_identity_link(provider=provider, user=user, upstream=upstream, via="email")
    except FederationRefused:
        return


def _usable_avatar(url: str) -> bool:
    return url.startswith("https://") and len(url) <= 500

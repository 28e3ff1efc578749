"""OAuth 2.0 clients and grants: registration, deletion, and ending a user's grants."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import (
    AccessToken,
    Application,
    DeviceGrant,
    Grant,
    RefreshToken,
    revoke_access_token,
)

from accounts.models import User
from audit.services import audit_record
from authn.oauth.redirect_uris import application_full_clean
from micro_platform.identity import Principal

# The grants a user may register a client for in the dashboard. Client credentials act as a
# service account, so those clients come only from `createserviceaccount` or the admin.
USER_CLIENT_TYPES = (Application.CLIENT_CONFIDENTIAL, Application.CLIENT_PUBLIC)


@dataclass(frozen=True)
class RegisteredClient:
    """A new client and its secret: the one moment the secret exists in clear."""

    application: Application
    client_secret: str


def oauth_client_create(
    *, application: Application, actor: Principal | User | None, exclude: Collection[str] = ()
) -> Application:
    """Stores a new client only if the model's checks and the redirect URI rule (https, or
    http to a loopback IP address) pass, with its audit event."""
    with transaction.atomic():
        application_full_clean(application, exclude=exclude)
        application.save()
        audit_record(
            type="oauth_client.created",
            actor=actor.pk if isinstance(actor, User) else actor,
            subject_type="oauth_client",
            subject_id=application.client_id,
            data={
                "name": application.name,
                "grant_type": application.authorization_grant_type,
                "owner_id": str(application.user_id) if application.user_id else "",
            },
        )
    return application


def _create(*, application: Application, actor: Principal | User | None) -> RegisteredClient:
    secret = generate_client_secret()
    application.client_secret = secret  # hashed by the toolkit's field on save
    application.algorithm = Application.RS256_ALGORITHM
    oauth_client_create(application=application, actor=actor, exclude=["client_secret"])
    return RegisteredClient(application=application, client_secret=secret)


def service_account_client_create(*, account: User, actor: Principal | None) -> RegisteredClient:
    """A confidential client-credentials client acting as the service account."""
    if account.kind != User.Kind.SERVICE:
        raise ValidationError("Only a service account can own a client-credentials client.")
    with transaction.atomic():
        return _create(
            application=Application(
                name=account.username,
                user=account,
                client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
                redirect_uris="",
            ),
            actor=actor,
        )


def user_client_register(
    *, owner: User, name: str, client_type: str, redirect_uris: str, actor: Principal | User
) -> RegisteredClient:
    """An authorization-code client (PKCE always) registered by a user for their app; the
    name is unique among the owner's clients (ignoring case), so the list and the consent
    page tell them apart."""
    if client_type not in USER_CLIENT_TYPES:
        raise ValidationError({"client_type": "Choose confidential or public."})
    with transaction.atomic():
        # The owner's row lock serialises two registrations of one name.
        User.objects.select_for_update().filter(pk=owner.pk).first()
        if Application.objects.filter(user=owner, name__iexact=name.strip()).exists():
            raise ValidationError(
                {"name": f"You already have an application named “{name.strip()}”."}
            )
        return _create(
            application=Application(
                name=name,
                user=owner,
                client_type=client_type,
                authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
                redirect_uris=" ".join(redirect_uris.split()),
            ),
            actor=actor,
        )


def user_clients(*, owner: User) -> list[Application]:
    return list(Application.objects.filter(user=owner).order_by("name", "id"))


def user_client_get(*, owner: User, application_id: int) -> Application | None:
    """The owner's client with this id; None for another user's client, as for none at all."""
    return Application.objects.filter(pk=application_id, user=owner).first()


def user_client_delete(*, application: Application, actor: Principal | User) -> None:
    """Deletes the client and, with it, every token issued to it (each revoked at once)."""
    with transaction.atomic():
        client_id = application.client_id
        application.delete()
        audit_record(
            type="oauth_client.deleted",
            actor=actor.pk if isinstance(actor, User) else actor,
            subject_type="oauth_client",
            subject_id=client_id,
        )


def user_grants_revoke(*, user: User) -> None:
    """Ends every OAuth 2.0 grant of the user: refresh tokens revoked, access tokens deleted
    (which puts each on the revocation list, see authn.signals)."""
    for family in (
        RefreshToken.objects.filter(user=user, revoked__isnull=True)
        .exclude(token_family=None)
        .values_list("token_family", flat=True)
        .distinct()
    ):
        RefreshToken.revoke_family(family)
    for token in RefreshToken.objects.filter(user=user, revoked__isnull=True):
        token.revoke()
    AccessToken.objects.filter(user=user).delete()
    # Codes not yet exchanged and devices approved but not yet redeemed would mint new ones.
    Grant.objects.filter(user=user).delete()
    DeviceGrant.objects.filter(user=user).exclude(status=DeviceGrant.DENIED).delete()


def oauth_access_token_revoke(*, raw: str) -> None:
    """Ends an OAuth 2.0 access token by its value: the row (so the toolkit's endpoints refuse
    it and the digest goes on the revocation list) and the refresh token bound to it."""
    digest = hashlib.sha256(raw.encode()).hexdigest()
    for token in AccessToken.objects.filter(token_checksum=digest):
        revoke_access_token(token)

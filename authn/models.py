"""Credential state: signing keys, refresh-token families, sessions, revocations."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from oauth2_provider.settings import oauth2_settings

from authn.encryption import IDP_CLIENT_SECRET, seal, unseal


class SigningKey(models.Model):
    """An RS256 key pair. The private key is stored encrypted (see authn.tokens.signing_keys)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active (signs new tokens)"
        RETIRED = "retired", "Retired (published until its tokens expire)"

    kid = models.CharField(max_length=64, unique=True)
    algorithm = models.CharField(max_length=16, default="RS256")
    public_jwk = models.JSONField()
    private_key_encrypted = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    publish_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="active"),
                name="signing_key_one_active",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.status})"


class TokenFamily(models.Model):
    """One sign-in: every refresh token rotated from it shares the family (its id is `sid`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_families"
    )
    scope = models.CharField(max_length=500)
    amr = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        verbose_name = "token family"
        verbose_name_plural = "token families"
        indexes = [models.Index(fields=["user", "revoked_at"], name="family_user_idx")]

    def __str__(self) -> str:
        return f"sign-in {self.pk} of {self.user_id}"


class RefreshToken(models.Model):
    """A refresh token, stored only as the SHA-256 of its 256-bit secret."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    family = models.ForeignKey(TokenFamily, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refresh token {self.pk} (sign-in {self.family_id})"


class Session(models.Model):
    """A session of the Micro RPC facade; its id is a bearer secret, stored as SHA-256."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rpc_sessions"
    )
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"], name="session_user_idx")]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.user_id}"


class RevokedToken(models.Model):
    """A revocation of access tokens, by `jti`, by family (`sid`), or of a user up to a time.

    Kept until the tokens it covers have expired; mirrored into the shared cache so the
    stateless check needs no database query.
    """

    class Kind(models.TextChoices):
        JTI = "jti", "One access token"
        FAMILY = "sid", "Every access token of a sign-in"
        SUBJECT = "sub", "Every access token of a user issued up to now"
        # OAuth 2.0 access tokens are stored only as a SHA-256 (django-oauth-toolkit's
        # checksum), so their revocation is recorded by that digest.
        DIGEST = "at", "One OAuth 2.0 access token, by SHA-256"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    # For `sub`: tokens issued at or before this Unix time, in microseconds, are revoked
    # (whole seconds in rows written before; revocation.py reads both).
    not_after = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="revoked_token_unique")
        ]

    def __str__(self) -> str:
        return f"revoked {self.kind}={self.value}"


class ApiKey(models.Model):
    """An API key `mk_<prefix>_<secret>`: the prefix finds the row, only a hash of the secret
    is stored (see authn.api_keys.services)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)  # unique: indexed
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    rotated_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="rotations"
    )
    # The service (by name, which never changes) the key is bound to: it is then a credential
    # for that service only (its audience), never for this service's own API. None: unbound.
    resource = models.CharField(max_length=63, null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="api_key_owner_idx")]

    def __str__(self) -> str:
        return f"API key {self.prefix} ({self.name}) of {self.owner_id}"


class DashboardSession(models.Model):
    """A dashboard (Django) session; the session key is stored only as its SHA-256.

    Rows carry the owner, client details and how the owner signed in, so the security page can
    list and end them.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="dashboard_sessions",
    )
    session_data = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    expire_date = models.DateTimeField(db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    # How the owner signed in (`amr` values this service checked: pwd, otp, hwk, swk, user,
    # mfa, fed); empty until someone signs in. Written from the session's data on each save;
    # db_default: an instance still running the previous release inserts rows without it.
    amr = models.JSONField(default=list, db_default=[], blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-last_seen_at"], name="dash_session_user_idx")]

    def __str__(self) -> str:
        return f"dashboard session {self.pk} of {self.user_id}"


class OAuthCodeUse(models.Model):
    """An exchanged OAuth 2.0 authorization code, by digest, and the grant it started.

    django-oauth-toolkit deletes a code when it is exchanged, so a second exchange looks like
    an unknown code. RFC 6749 §4.1.2 asks for the tokens issued from a re-used code to be
    revoked: this row finds them (the refresh-token family) when that happens.
    """

    code_digest = models.CharField(max_length=64, unique=True)
    application = models.ForeignKey(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_family = models.UUIDField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "OAuth code use"

    def __str__(self) -> str:
        return f"code use {self.pk}"


class OAuthSignIn(models.Model):
    """How the user signed in when approving an OAuth grant, which the grant's tokens carry:
    recorded for a federated sign-in (`fed` and the upstream's `amr`, the provider's slug) or
    a passkey sign-in (its `amr`, no provider: `idp` empty), under the authorization code's or
    device code's digest and then under the token family its refreshes keep. Tokens of a
    password sign-in carry `pwd` as always."""

    # "code:<sha256>", "device:<sha256>" or "family:<uuid>".
    key = models.CharField(max_length=80, unique=True)
    amr = models.JSONField(default=list)
    idp = models.CharField(max_length=50, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "OAuth sign-in"

    def __str__(self) -> str:
        return f"OAuth sign-in {self.key}"


class IdentityProvider(models.Model):
    """An upstream OpenID Connect provider people may sign in with (authn.federation).

    The client secret is stored encrypted (authn.encryption, like the signing keys) and is
    never shown again once saved. Claim names default to the standard OpenID Connect ones.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=50, unique=True)
    display_name = models.CharField(max_length=100)
    issuer = models.URLField(max_length=500)
    client_id = models.CharField(max_length=255)
    # Empty for a public client (PKCE only, no client authentication at the token endpoint).
    client_secret_encrypted = models.TextField(blank=True, default="")
    scopes = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    # Just-in-time accounts: a first sign-in without a link creates a local account.
    create_accounts = models.BooleanField(default=False)
    allowed_email_domains = models.JSONField(default=list, blank=True)
    # Whether this provider's `email_verified` may link to an existing account with that email.
    link_by_verified_email = models.BooleanField(default=False)
    # Whether this provider's `amr`/`acr` proving MFA stands in for the local second factor.
    enforces_mfa = models.BooleanField(default=False)
    use_userinfo = models.BooleanField(default=False)
    # Local field (username, email, display_name, avatar, groups) -> upstream claim name.
    claim_mapping = models.JSONField(default=dict, blank=True)
    # Upstream group name -> local group name; groups not listed are ignored.
    group_mapping = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "identity provider"

    def __str__(self) -> str:
        return f"{self.display_name} ({self.slug})"

    def set_client_secret(self, secret: str) -> None:
        """Stores `secret` encrypted (empty: a public client); save the row afterwards."""
        self.client_secret_encrypted = (
            seal(secret.encode(), purpose=IDP_CLIENT_SECRET) if secret else ""
        )

    def client_secret(self) -> str:
        """The decrypted client secret ("" for a public client); raises
        authn.encryption.SecretUnreadable when DJANGO_SECRET_KEY no longer opens it."""
        if not self.client_secret_encrypted:
            return ""
        return unseal(self.client_secret_encrypted, purpose=IDP_CLIENT_SECRET).decode()


class ExternalIdentity(models.Model):
    """A local account's link to an account at an identity provider (its `sub` there)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.ForeignKey(
        IdentityProvider, on_delete=models.CASCADE, related_name="identities"
    )
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities"
    )
    # The upstream's email at the last sign-in, for people to recognise the link.
    email = models.CharField(max_length=254, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "external identity"
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "subject"], name="external_identity_provider_subject"
            ),
            models.UniqueConstraint(
                fields=["provider", "user"], name="external_identity_provider_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_id}:{self.subject} -> {self.user_id}"

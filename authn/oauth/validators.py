"""django-oauth-toolkit's validator, adapted to the service's keys, accounts and audit trail.

What changes against the toolkit's defaults, and why:
- ID tokens are signed with the service's rotating signing keys (the toolkit signs with one
  static key from its settings), so one JWKS verifies every token the service issues.
- Client credentials need a client owned by an active service account; the tokens act as
  that account and carry only scopes it holds.
- A re-used authorization code revokes everything issued from it (RFC 6749 §4.1.2); the
  toolkit only refuses the second exchange, so each exchange is remembered by a digest.
- Issuance, reuse and revocation are audit events like every other credential's.
- A redirect URI is used only if the service's rule allows it (https, or http to a loopback
  IP address: authn.oauth.redirect_uris), even when a stored client lists another.
- `resource` (RFC 8707) names a registered service (authn.oauth.resources): a code keeps the
  service it was authorized for, and so do its token rows (a refresh stays for that service);
  other rows keep no resource. The rows keep the general scopes: only the access token is
  narrowed to the service.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import jwt
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from jwcrypto import jwk
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
)
from oauth2_provider.oauth2_validators import OAuth2Validator

from accounts.models import User
from audit.services import (
    AuditEntry,
    audit_record,
    audit_record_many,
    audit_record_with_row,
    audit_with_row_is_one_statement,
)
from authn.models import OAuthCodeUse
from authn.oauth.redirect_uris import redirect_uri_problem
from authn.oauth.resources import authorization_resource, authorized_resource
from authn.oauth.sign_ins import (
    code_key,
    family_key,
    grant_key,
    oauth_sign_in_forget,
    oauth_sign_in_get,
    oauth_sign_in_record,
    request_facts,
)
from authn.oauth.tokens import CLIENT_CREDENTIALS, OPENID, held_by, token_subject
from authn.tokens.resources import audit_detail
from authn.tokens.signing_keys import key_ring
from micro_client import contract
from micro_platform import metrics
from micro_platform.compiled import InstancesByValue
from micro_platform.http import client_ip_from_meta
from micro_platform.scopes import EMAIL

AccessToken = get_access_token_model()
Application = get_application_model()
Grant = get_grant_model()
AUTHORIZATION_CODE = "authorization_code"


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def service_account_of(client: Any) -> User | None:
    """The active service account owning `client`, if that is what owns it."""
    user = getattr(client, "user", None)
    if user is None or not user.is_active or user.kind != User.Kind.SERVICE:
        return None
    return user


def _wants_owner(request: Any) -> bool:
    return getattr(request, "grant_type", None) == CLIENT_CREDENTIALS


def _clients_with_owner(client_id: str) -> Any:
    return Application.objects.select_related("user").filter(client_id=client_id)


def _clients_with_owner_and_groups(client_id: str) -> Any:
    return _clients_with_owner(client_id).annotate(
        owner_group_id=F("user__memberships__group_id"),
        owner_group_scopes=F("user__memberships__group__scopes"),
    )


# Every token request reads its client: the statement is compiled once, not per request.
_CLIENT_WITH_OWNER = InstancesByValue(Application, _clients_with_owner)
_CLIENT_WITH_OWNER_AND_GROUPS = InstancesByValue(Application, _clients_with_owner_and_groups)


def client_with_owner(*, client_id: str, request: Any, memberships: bool) -> Any:
    """The stored client `client_id` with its owner (None when there is none: the toolkit
    then looks it up its own way); with `memberships`, the owner's groups are put on the
    request as `micro_memberships`, read in the same query (one row per group)."""
    read = _CLIENT_WITH_OWNER_AND_GROUPS if memberships else _CLIENT_WITH_OWNER
    rows = read.get(client_id)
    if not rows:
        return None
    client = rows[0]
    if memberships and client.user_id is not None:
        request.micro_memberships = (
            client.user_id,
            [
                (row.owner_group_id, list(row.owner_group_scopes or []))
                for row in rows
                if row.owner_group_id is not None
            ],
        )
    return client


class MicroOAuth2Validator(OAuth2Validator):
    # Which scope releases which OpenID claim (userinfo and ID token). `profile` is the
    # scope for reading and updating one's own account, so it covers the user's own address as well.
    oidc_claim_scope = {
        "sub": OPENID,
        "preferred_username": "profile",
        "name": "profile",
        "email": "profile",
        "email_verified": "profile",
    }

    def get_oidc_claims(self, token: Any, token_handler: Any, request: Any) -> dict[str, Any]:
        """The claims of the granted scopes; OpenID Connect's `email` scope releases the
        address too (relying parties ask for `openid email profile`)."""
        claims: dict[str, Any] = super().get_oidc_claims(token, token_handler, request)
        if EMAIL in (request.scopes or ()):
            for name in ("email", "email_verified"):
                claims[name] = getattr(request.user, name)
        return claims

    def get_additional_claims(self) -> dict[str, Any]:  # type: ignore[override]
        # The request-agnostic form, so discovery can list the claims.
        return {
            "preferred_username": lambda request: request.user.username,
            "name": lambda request: request.user.display_name or request.user.username,
            "email": lambda request: request.user.email,
            "email_verified": lambda request: request.user.email_verified,
        }

    def _load_application(self, client_id: str, request: Any) -> Any:
        """The toolkit's client load, with the owner read in the same query; for client
        credentials, the owner's memberships as well (`held_by` reads them from the request),
        so a token costs one read before its scopes' roles. A client id holding NUL names no
        client: no stored one holds it, and PostgreSQL refuses to compare one (a 500)."""
        if client_id and "\x00" in client_id:
            return None
        if not request.client and client_id:
            request.client = client_with_owner(
                client_id=client_id, request=request, memberships=_wants_owner(request)
            )
        return super()._load_application(client_id, request)

    # --- Client credentials: service accounts only ------------------------------------------

    def validate_grant_type(
        self, client_id: str, grant_type: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if not super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs):
            return False
        if grant_type == CLIENT_CREDENTIALS:
            return service_account_of(client) is not None
        return True

    def get_default_scopes(self, client_id: str, request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.grant_type == CLIENT_CREDENTIALS:
            account = service_account_of(request.client)
            return sorted(held_by(request, account)[0]) if account else []
        return super().get_default_scopes(client_id, request, *args, **kwargs)

    def validate_scopes(
        self, client_id: str, scopes: Any, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if not super().validate_scopes(client_id, scopes, client, request, *args, **kwargs):
            return False
        if request.grant_type == CLIENT_CREDENTIALS:
            account = service_account_of(client)
            return account is not None and set(scopes) <= held_by(request, account)[0]
        return True

    # --- Redirect URIs: registered, and allowed by the rule ---------------------------------

    def validate_redirect_uri(
        self, client_id: str, redirect_uri: str, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if redirect_uri_problem(redirect_uri) is not None:
            return False
        return bool(super().validate_redirect_uri(client_id, redirect_uri, request))

    def get_default_redirect_uri(
        self, client_id: str, request: Any, *args: Any, **kwargs: Any
    ) -> str | None:
        # Used when the request names no redirect URI; None makes it an error page, as for
        # a client with several URIs, instead of a redirect the rule refuses.
        uri = super().get_default_redirect_uri(client_id, request, *args, **kwargs)
        return uri if uri and redirect_uri_problem(uri) is None else None

    # --- Authorization codes: single use, re-use revokes what the code issued -----------------

    def validate_code(
        self, client_id: str, code: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        # The token view runs a code exchange in one transaction: the code's row stays locked
        # until it is deleted, so a concurrent second exchange waits, then finds it gone and
        # takes the re-use path below.
        grant = Grant.objects.select_for_update().filter(code=code, application=client).first()
        # The service the code was authorized for, which the token must be for.
        request.micro_authorized_resource = grant.resource if grant is not None else []
        if super().validate_code(client_id, code, client, request, *args, **kwargs):
            request.micro_sign_in = oauth_sign_in_get(key=code_key(code))
            return bool(request.user.is_active)
        used = OAuthCodeUse.objects.filter(code_digest=code_digest(code)).first()
        if used is not None and used.application_id == getattr(client, "pk", None):
            self._revoke_code_family(used, request)
        return False

    def _revoke_code_family(self, used: OAuthCodeUse, request: Any) -> None:
        with transaction.atomic():
            get_refresh_token_model().revoke_family(used.token_family)
            audit_record(
                type="token.reuse_detected",
                actor=used.user_id,
                subject_type="oauth_grant",
                subject_id=used.token_family,
                ip_address=_client_ip(request),
                data={"client_id": request.client_id or "", "grant_type": AUTHORIZATION_CODE},
            )

    # --- Resources: a registered service, kept on the code only --------------------------------

    def _create_authorization_code(self, request: Any, code: Any, expires: Any = None) -> Any:
        service = authorization_resource(request)
        request.resource = [service.name] if service is not None else []
        grant = super()._create_authorization_code(request, code, expires)
        oauth_sign_in_record(key=code_key(code["code"]), facts=request_facts(request))
        return grant

    def _check_and_set_request_resource(self, request: Any) -> None:
        # The token's service was resolved before it was signed (authn.oauth.tokens). The rows
        # keep only the service the authorization was given for, so a refresh of a code
        # authorized for one service stays for it; any other refresh token stays general.
        request.resource = authorized_resource(request)

    def _create_refresh_token(
        self, request: Any, refresh_token_code: str, access_token: Any, previous: Any
    ) -> Any:
        refresh_token = super()._create_refresh_token(
            request, refresh_token_code, access_token, previous
        )
        request.micro_refresh_token = refresh_token
        return refresh_token

    def save_bearer_token(self, token: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        # Client credentials write one row and its audit event: where that is one statement,
        # atomic by itself, the toolkit's transaction around it would only add BEGIN and
        # COMMIT round trips.
        if request.grant_type == CLIENT_CREDENTIALS and audit_with_row_is_one_statement(
            AccessToken
        ):
            return self._save_bearer_token(token, request, *args, **kwargs)
        return super().save_bearer_token(token, request, *args, **kwargs)

    def _save_bearer_token(self, token: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        # The rows keep the general scopes a refresh starts from; the response keeps the
        # scopes of the access token, which may be for one service only.
        carried = token.get("scope", "")
        request.micro_carried_scope = carried
        general = getattr(request, "micro_general_scopes", None)
        if general is not None:
            token["scope"] = " ".join(general)
        try:
            result = super()._save_bearer_token(token, request, *args, **kwargs)
        finally:
            token["scope"] = carried
        refresh_token = getattr(request, "micro_refresh_token", None)
        if refresh_token is not None and refresh_token.token_family is not None:
            # The grant's sign-in, kept for the refreshes of the family.
            oauth_sign_in_record(
                key=family_key(refresh_token.token_family), facts=request_facts(request)
            )
        oauth_sign_in_forget(key=grant_key(request))
        if request.grant_type == AUTHORIZATION_CODE and refresh_token is not None:
            OAuthCodeUse.objects.create(
                code_digest=code_digest(request.code),
                application=request.client,
                user_id=refresh_token.user_id,
                token_family=refresh_token.token_family,
                # As long as a refresh token from the code can live.
                expires_at=timezone.now() + timedelta(seconds=settings.MICRO_REFRESH_TOKEN_TTL),
            )
        if not getattr(request, "micro_issue_recorded", False):
            audit_record_many(entries=[_issue_event(request, scope=carried)])
        metrics.token_issued(path="oauth", grant=request.grant_type)
        return result

    def _create_access_token(
        self, expires: Any, request: Any, token: Any, source_refresh_token: Any = None
    ) -> Any:
        """Client credentials store one row, the access token: it is written with its audit
        event (see `audit_record_with_row`). Other grants keep the toolkit's write."""
        if (
            request.grant_type != CLIENT_CREDENTIALS
            or source_refresh_token is not None
            or token.get("id_token")
        ):
            return super()._create_access_token(expires, request, token, source_refresh_token)
        access_token = AccessToken(  # the row the toolkit makes for this grant
            user=request.user,
            scope=token["scope"],
            expires=expires,
            application=request.client,
            resource=getattr(request, "resource", []),
        )
        self._set_token_value(access_token, token["access_token"])
        audit_record_with_row(
            row=access_token, entry=_issue_event(request, scope=request.micro_carried_scope)
        )
        request.micro_issue_recorded = True
        return access_token

    # --- Refresh tokens: audit the reuse the toolkit detects ----------------------------------

    def validate_refresh_token(
        self, refresh_token: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            family = getattr(request.refresh_token_instance, "token_family", None)
            if family is not None:
                request.micro_sign_in = oauth_sign_in_get(key=family_key(family))
            return bool(request.user is not None and request.user.is_active)
        checksum = hashlib.sha256(refresh_token.encode()).hexdigest()
        revoked = (
            get_refresh_token_model()
            .objects.filter(token_checksum=checksum, revoked__isnull=False)
            .only("user_id", "token_family")
            .first()
        )
        if revoked is not None:
            audit_record(
                type="token.reuse_detected",
                actor=revoked.user_id,
                subject_type="oauth_grant",
                subject_id=revoked.token_family or "",
                ip_address=_client_ip(request),
                data={"client_id": getattr(client, "client_id", ""), "grant_type": "refresh"},
            )
        return False

    # --- ID tokens: the service's keys --------------------------------------------------------

    def finalize_id_token(self, id_token: Any, token: Any, token_handler: Any, request: Any) -> str:
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        # How the person signed in, as the grant's access tokens say it (OpenID Connect's
        # `amr`; a federated sign-in's provider as `idp`), so a relying party can read it.
        facts = request_facts(request)
        id_token["amr"] = list(facts.amr) if facts is not None else ["pwd"]
        if facts is not None and facts.idp is not None:
            id_token["idp"] = facts.idp
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        kid, private_key = key_ring.signing_key()
        signed = jwt.encode(
            json.loads(json.dumps(dict(id_token), default=str)),
            private_key,
            algorithm=contract.ALGORITHM,
            headers={"kid": kid, "typ": "JWT"},
        )
        with transaction.atomic():
            saved = self._save_id_token(id_token["jti"], request, expiration_time)
        request.access_token = saved
        request.id_token = saved
        return signed

    def _get_key_for_token(self, token: str) -> Any:
        """The published key named by the token's `kid` (for `id_token_hint`), or None."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            return None
        key = key_ring.verifying_key(str(kid)) if isinstance(kid, str) else None
        return jwk.JWK.from_pyca(key) if key is not None else None


def _issue_event(request: Any, *, scope: str) -> AuditEntry:
    """The audit event of a token issued (or refreshed) to the request's client."""
    subject = token_subject(request)
    return AuditEntry(
        type="token.refreshed" if request.grant_type == "refresh_token" else "token.issued",
        actor=subject.pk if subject is not None else None,
        subject_type="oauth_client",
        subject_id=request.client.client_id,
        ip_address=_client_ip(request),
        data={
            "grant_type": request.grant_type,
            "scope": scope,
            **audit_detail(getattr(request, "micro_resource", None)),
        },
    )


def _client_ip(request: Any) -> str | None:
    # django-oauth-toolkit passes Django's META as the oauthlib request's headers.
    return client_ip_from_meta(getattr(request, "headers", None) or {})

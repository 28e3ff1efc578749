"""The federated sign-in pages: start (to the provider), callback (back from it), link.

Every refusal is a 400 page (or an application/problem+json problem for API callers) and a
`federation.refused` audit event, never a sign-in; an upstream that is down or slow is a 503,
one that answers nonsense a 502, never a 500.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_http_methods
from joserfc.errors import InvalidClaimError, JoseError

from accounts.models import User
from authn import lockout
from authn.federation.claims import Upstream, upstream_from_claims
from authn.federation.client import FederationApp, client_for, upstream_call
from authn.federation.errors import FederationError, FederationRefused
from authn.federation.services import (
    external_identity_link,
    federated_user_resolve,
    federation_refused_record,
)
from authn.identity_providers.selectors import (
    external_identities_of,
    external_identity_find,
    identity_provider_get,
)
from authn.models import IdentityProvider
from authn.sessions.proof import (
    AUTH_TIME_KEY,
    FEDERATED,
    principal_for_session,
    session_amr,
)
from authn.web.auth_views import _safe_next, primary_step_passed, throttled_response
from micro_platform.errors import problem_response
from micro_platform.http import client_ip
from micro_platform.sign_in import PASSKEY_AMR, signed_in_recently

logger = logging.getLogger("micro.auth")

PENDING_LINK_KEY = "micro_federation_link"
PENDING_LINK_AT_KEY = "micro_federation_link_at"
# Set when the pending link is the signed-in user's own "link another sign-in": whose it is.
PENDING_LINK_OWNER_KEY = "micro_federation_link_owner"
# How long an upstream sign-in waits for the person to sign in to the account it links to.
PENDING_LINK_SECONDS = 600
# How long a started sign-in may take at the provider before its state is refused.
STATE_TTL_SECONDS = 600
LINK_URL = "/accounts/federation/link/"
# The refusal reason of a callback carrying the provider's `error` (e.g. access_denied).
UPSTREAM_DECLINED = "upstream_error"
ID_TOKEN_LEEWAY_SECONDS = 60


@never_cache
@require_GET
def start_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Sends the browser to the provider; state, nonce, PKCE verifier and `next` stay in the
    session."""
    provider = identity_provider_get(slug=slug)
    if provider is None or not provider.enabled:
        return _unknown_provider(request, slug)
    next_url = _safe_next(request, request.GET.get("next"))
    try:
        client = client_for(provider)
        with upstream_call():
            redirect_uri = request.build_absolute_uri(
                reverse("federation:callback", kwargs={"slug": slug})
            )
            authorization = client.create_authorization_url(redirect_uri)
    except FederationError as exc:
        return _refused(request, slug, exc)
    linking = str(request.user.pk) if request.user.is_authenticated else None
    client.save_authorize_data(
        request,
        redirect_uri=redirect_uri,
        next=next_url,
        link_user=linking,
        started_at=int(time.time()),
        **authorization,
    )
    return redirect(authorization["url"])


@never_cache
@require_GET
def callback_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Back from the provider: checks state, exchanges the code, checks the ID token (and
    userinfo), then signs in, links, or refuses."""
    provider = identity_provider_get(slug=slug)
    if provider is None or not provider.enabled:
        return _unknown_provider(request, slug)
    ip_address = client_ip(request)
    wait = lockout.ip_wait(ip_address=ip_address)
    if wait:
        return _throttled(request, wait)
    try:
        client = client_for(provider)
        state = _state_take(request, client)
        upstream = _verified_upstream(request, provider, client, state)
        return _signed_in(request, provider, upstream, state)
    except FederationError as exc:
        # The provider's own "not signed in" (the person pressed cancel there) proves nothing
        # and guesses nothing, so it does not count against the address like a forged answer.
        if isinstance(exc, FederationRefused) and exc.reason != UPSTREAM_DECLINED:
            lockout.ip_failure_record(ip_address=ip_address)
        return _refused(request, slug, exc)


def _state_take(request: HttpRequest, client: FederationApp) -> dict[str, Any]:
    """The data saved at start for this callback's `state`, used once (a replay finds none)."""
    if request.GET.get("error"):
        state = request.GET.get("state")
        if state:
            client.framework.clear_state_data(request.session, state)
        raise FederationRefused(
            UPSTREAM_DECLINED, "The identity provider did not sign you in. Try again."
        )
    state = request.GET.get("state") or ""
    data = client.framework.get_state_data(request.session, state) if state else None
    if state:
        client.framework.clear_state_data(request.session, state)
    started = data.get("started_at") if isinstance(data, dict) else None
    if not isinstance(started, int) or time.time() - started > STATE_TTL_SECONDS:
        raise FederationRefused(
            "state_mismatch", "This sign-in was not started here, or is too old. Start again."
        )
    assert isinstance(data, dict)  # noqa: S101 - narrowed by the check above
    if not request.GET.get("code"):
        raise FederationRefused("invalid_response", "The identity provider sent no code.")
    return data


def _verified_upstream(
    request: HttpRequest, provider: IdentityProvider, client: FederationApp, state: dict[str, Any]
) -> Upstream:
    with upstream_call():
        token = client.fetch_access_token(
            redirect_uri=state["redirect_uri"],
            code=request.GET["code"],
            code_verifier=state.get("code_verifier"),
        )
    if not isinstance(token, dict) or not token.get("id_token"):
        raise FederationRefused("invalid_id_token", "The identity provider sent no ID token.")
    claims = _id_token_claims(provider, client, token, state)
    if provider.use_userinfo:
        with upstream_call():
            userinfo = client.userinfo(token=token)
        if userinfo.get("sub") != claims["sub"]:
            raise FederationRefused(
                "userinfo_mismatch", "The identity provider's userinfo is for someone else."
            )
        claims = {**dict(userinfo), **claims}
    return upstream_from_claims(provider, claims)


def _id_token_claims(
    provider: IdentityProvider, client: FederationApp, token: dict[str, Any], state: dict[str, Any]
) -> dict[str, Any]:
    options = {
        "iss": {"essential": True, "value": provider.issuer},
        "aud": {"essential": True, "value": provider.client_id},
    }
    try:
        with upstream_call():
            claims = client.parse_id_token(
                token,
                nonce=state.get("nonce"),
                claims_options=options,
                leeway=ID_TOKEN_LEEWAY_SECONDS,
            )
    except InvalidClaimError as exc:
        if exc.claim == "nonce":
            raise FederationRefused(
                "nonce_mismatch", "The ID token is for another sign-in."
            ) from exc
        raise FederationRefused("invalid_id_token", "The ID token is not valid.") from exc
    except (JoseError, ValueError) as exc:
        raise FederationRefused("invalid_id_token", "The ID token is not valid.") from exc
    if not state.get("nonce") or not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise FederationRefused("invalid_id_token", "The ID token is not valid.")
    return dict(claims)


def _signed_in(
    request: HttpRequest, provider: IdentityProvider, upstream: Upstream, state: dict[str, Any]
) -> HttpResponse:
    next_url = _safe_next(request, state.get("next"))
    linking = state.get("link_user")
    if linking and request.user.is_authenticated and str(request.user.pk) == linking:
        return _link_own(request, provider, upstream, next_url)
    resolution = federated_user_resolve(
        provider=provider, upstream=upstream, ip_address=client_ip(request)
    )
    if resolution.user is None:
        return _link_pending(request, upstream)
    user = resolution.user
    wait = lockout.account_wait(login=lockout.lockout_subject(login=user.username, user_id=user.pk))
    if wait:
        raise _Throttled(wait)
    return primary_step_passed(
        request,
        user,
        next_url=next_url,
        amr=("fed", *upstream.amr),
        idp=provider.slug,
        mfa_proven=provider.enforces_mfa and upstream.mfa,
        groups=upstream.groups,
        link=upstream if resolution.link_by_email else None,
    )


class _Throttled(FederationError):
    status_code = 429
    code = "too_many_attempts"
    title = "Too many attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__("locked", "Sign-in is paused for this account.")
        self.retry_after = retry_after


def _link_own(
    request: HttpRequest, provider: IdentityProvider, upstream: Upstream, next_url: str
) -> HttpResponse:
    """The signed-in user asked to link another sign-in to their own account: the link
    waits for their confirmation on the link page (a POST with its CSRF token).

    Linking is never the answer to a GET alone: another site could send a signed-in person's
    browser through the start page while the provider's session is the attacker's (the
    provider's own login CSRF), and the attacker's upstream account would be linked to the
    victim's account. A new way to sign in is also an account-security change: like
    enrolling an authenticator it needs the person's own sign-in within the last 15 minutes,
    so a stolen session cannot add its thief's upstream account for lasting access."""
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - a session user
    linked = external_identity_find(provider=provider, subject=upstream.subject)
    if linked is not None and linked.user_id == user.pk:
        return redirect(next_url)
    has_one = any(own.provider_id == provider.pk for own in external_identities_of(user=user))
    if linked is not None or has_one:
        # Said now rather than after the confirmation the link could never pass.
        raise FederationRefused(
            "already_linked",
            "This sign-in is already linked to an account, or yours has a link to this provider.",
        )
    if not signed_in_recently(principal_for_session(user, request.session)):
        raise FederationRefused(
            "recent_sign_in_required",
            "Sign in again (within the last 15 minutes) to link another sign-in.",
        )
    request.session[PENDING_LINK_KEY] = upstream.as_session()
    request.session[PENDING_LINK_AT_KEY] = int(time.time())
    request.session[PENDING_LINK_OWNER_KEY] = str(user.pk)
    return redirect(LINK_URL)


def _link_pending(request: HttpRequest, upstream: Upstream) -> HttpResponse:
    """An account has this email but may not be linked silently: the person signs in to it
    first, then confirms the link."""
    request.session[PENDING_LINK_KEY] = upstream.as_session()
    request.session[PENDING_LINK_AT_KEY] = int(time.time())
    request.session.pop(PENDING_LINK_OWNER_KEY, None)
    messages.info(
        request,
        "An account here has this email address. Sign in to your account first to link it.",
    )
    return redirect(f"/accounts/login/?next={LINK_URL}")


def _pending_link(request: HttpRequest) -> Upstream | None:
    started = request.session.get(PENDING_LINK_AT_KEY)
    if not isinstance(started, int) or time.time() - started > PENDING_LINK_SECONDS:
        return None
    return Upstream.from_session(request.session.get(PENDING_LINK_KEY))


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def link_view(request: HttpRequest) -> HttpResponse:
    """Confirms the link of a pending upstream sign-in: to the account signed in here with its
    password (and code) in this session, or, for "link another sign-in", to the signed-in
    user who started it (signed in within the last 15 minutes)."""
    upstream = _pending_link(request)
    if upstream is None:
        return render(request, "micro/federation_link.html", {"upstream": None}, status=400)
    owner = request.session.get(PENDING_LINK_OWNER_KEY)
    own = owner is not None and request.user.is_authenticated and str(request.user.pk) == owner
    if own:
        user = request.user
        assert isinstance(user, User)  # noqa: S101 - a session user, checked above
        if not signed_in_recently(principal_for_session(user, request.session)):
            return _refused(
                request,
                upstream.slug,
                FederationRefused(
                    "recent_sign_in_required",
                    "Sign in again (within the last 15 minutes) to link another sign-in.",
                ),
            )
    elif not _local_sign_in_since(request, request.session.get(PENDING_LINK_AT_KEY)):
        return redirect(f"/accounts/login/?next={LINK_URL}")
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - a session user, checked above
    if not own and user.email.lower() != upstream.email.lower():
        return _refused(
            request,
            upstream.slug,
            FederationRefused(
                "not_linked", "Sign in to the account with this email address to link it."
            ),
        )
    provider = identity_provider_get(slug=upstream.slug)
    if provider is None or not provider.enabled:
        return _unknown_provider(request, upstream.slug)
    if request.method == "POST":
        for key in (PENDING_LINK_KEY, PENDING_LINK_AT_KEY, PENDING_LINK_OWNER_KEY):
            request.session.pop(key, None)
        try:
            external_identity_link(
                provider=provider, user=user, upstream=upstream, via="self" if own else "link"
            )
        except FederationError as exc:
            return _refused(request, provider.slug, exc)
        messages.success(request, f"Your {provider.display_name} sign-in is now linked.")
        return redirect("/dashboard/security/")
    context = {"upstream": upstream, "provider": provider}
    return render(request, "micro/federation_link.html", context)


# A sign-in made here: a password, or a passkey (hardware-bound or synced).
_LOCAL_SIGN_IN_AMR = frozenset({"pwd", *PASSKEY_AMR})


def _local_sign_in_since(request: HttpRequest, started: Any) -> bool:
    """Whether the session's user signed in here (a password or a passkey) after `started`;
    a federated sign-in is not one, even when the upstream's own `amr` says `pwd`."""
    signed_in_at = request.session.get(AUTH_TIME_KEY)
    amr = session_amr(request.session)
    return (
        request.user.is_authenticated
        and FEDERATED not in amr
        and not _LOCAL_SIGN_IN_AMR.isdisjoint(amr)
        and isinstance(signed_in_at, int)
        and isinstance(started, int)
        and signed_in_at >= started
    )


def _wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept or "application/problem+json" in accept


def _unknown_provider(request: HttpRequest, slug: str) -> HttpResponse:
    """A 404, audited; each one counts against the address like a failed sign-in, so a
    flood of made-up slugs is throttled instead of filling the audit trail."""
    ip_address = client_ip(request)
    wait = lockout.ip_wait(ip_address=ip_address)
    if wait:
        return _throttled(request, wait)
    lockout.ip_failure_record(ip_address=ip_address)
    federation_refused_record(slug=slug[:50], reason="unknown_provider", ip_address=ip_address)
    if _wants_json(request):
        return problem_response(request, 404, "not_found", "No such identity provider.")
    return render(
        request,
        "micro/federation_error.html",
        {"title": "Unknown sign-in provider", "message": "There is no such sign-in provider here."},
        status=404,
    )


def _throttled(request: HttpRequest, retry_after: int) -> HttpResponse:
    """The password sign-in's 429 page, or a `too_many_attempts` problem for API callers."""
    if not _wants_json(request):
        return throttled_response(request, retry_after)
    response = problem_response(
        request, 429, "too_many_attempts", "Too many failed attempts; try again later."
    )
    response["Retry-After"] = str(max(1, int(retry_after)))
    return response


def _refused(request: HttpRequest, slug: str, exc: FederationError) -> HttpResponse:
    federation_refused_record(slug=slug, reason=exc.reason, ip_address=client_ip(request))
    logger.info("federation.refused idp=%s reason=%s", slug, exc.reason)
    if isinstance(exc, _Throttled):
        return _throttled(request, exc.retry_after)
    if _wants_json(request):
        return problem_response(request, exc.status_code, exc.code, exc.message)
    context = {"title": exc.title, "message": exc.message, "status": exc.status_code}
    return render(request, "micro/federation_error.html", context, status=exc.status_code)

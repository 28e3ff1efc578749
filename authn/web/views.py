"""Dashboard pages: profile, API keys, security. Thin: forms validate, services write."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from accounts.services import Conflict, user_update
from accounts.throttles import RateLimited
from authn.api_keys.selectors import api_key_get_owned, api_keys_of
from authn.api_keys.services import (
    EmailUnverified,
    api_key_create,
    api_key_revoke,
    api_key_rotate,
)
from authn.mfa.services import user_has_mfa
from authn.models import ApiKey
from authn.sessions.proof import principal_for_session
from authn.web.auth_views import throttled_response
from authn.web.forms import ApiKeyCreateForm, ApiKeyRotateForm, ProfileForm
from micro_platform.http import client_ip
from micro_platform.identity import Principal
from micro_platform.scopes import API_ADMIN
from micro_platform.sign_in import FreshMfaRequired, RecentSignInRequired

PROFILE_FIELDS = ("display_name", "email", "avatar_url")


def dashboard_user(request: HttpRequest) -> User:
    """The signed-in account (views are behind login_required; anything else is refused)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def dashboard_principal(request: HttpRequest) -> Principal:
    """The signed-in user's principal now; kept on the request for the page's navigation."""
    principal = principal_for_session(dashboard_user(request), request.session)
    request.micro_principal = principal  # type: ignore[attr-defined]
    return principal


def add_validation_errors(
    form: Form, error: ValidationError, *, default_field: str | None = None
) -> None:
    """Copies a service's ValidationError onto the form, field by field when it names them."""
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(default_field, error.messages)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def profile_view(request: HttpRequest) -> HttpResponse:
    user = dashboard_user(request)
    initial = {field: getattr(user, field) for field in PROFILE_FIELDS}
    form = ProfileForm(request.POST if request.method == "POST" else None, initial=initial)
    if form.is_valid():
        changes = {k: v for k, v in form.cleaned_data.items() if v != initial[k]}
        try:
            user_update(
                actor=dashboard_principal(request),
                user=user,
                changes=changes,
                ip_address=client_ip(request),
            )
        except RateLimited as exc:
            return throttled_response(request, exc.retry_after)
        except RecentSignInRequired:
            messages.error(request, "For your security, sign in again to change your email.")
            return redirect(f"/accounts/login/?next={reverse('dashboard:profile')}")
        except Conflict as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            messages.success(request, "Profile saved.")
            return redirect("dashboard:profile")
    status = 400 if form.errors else 200
    return render(request, "micro/profile.html", {"form": form, "account": user}, status=status)


def _api_keys_page(
    request: HttpRequest,
    *,
    form: ApiKeyCreateForm | None = None,
    status: int | None = None,
    **extra: Any,
) -> HttpResponse:
    principal = dashboard_principal(request)
    context = {
        "form": form or ApiKeyCreateForm(held_scopes=principal.scopes),
        "api_keys": api_keys_of(owner_id=principal.user_id),
        "rotate_form": ApiKeyRotateForm(),
        "has_mfa": user_has_mfa(user=dashboard_user(request)),
        "holds_api_admin": API_ADMIN in principal.scopes,
        **extra,
    }
    if status is None:
        status = 400 if form is not None and form.errors else 200
    return render(request, "micro/api_keys.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_keys_view(request: HttpRequest) -> HttpResponse:
    """Lists the user's keys; POST mints one and shows its secret in this response only."""
    if request.method != "POST":
        return _api_keys_page(request)
    principal = dashboard_principal(request)
    form = ApiKeyCreateForm(request.POST, held_scopes=principal.scopes)
    if form.is_valid():
        try:
            minted = api_key_create(
                owner=dashboard_user(request),
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_in_days=form.cleaned_data["expires_in_days"],
                actor=principal,
                resource=form.cleaned_data["resource"] or None,
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        except EmailUnverified as exc:
            form.add_error(None, str(exc))
        except FreshMfaRequired:
            # The page explains it once, with the way to a sign-in with a code.
            return _api_keys_page(request, form=form, status=400, fresh_mfa_required=True)
        except PermissionDenied as exc:
            form.add_error("scopes", str(exc) or "Sign in again with MFA to mint this key.")
        else:
            return _api_keys_page(request, minted=minted)
    return _api_keys_page(request, form=form)


def _owned_key(request: HttpRequest, key_id: uuid.UUID) -> ApiKey:
    try:
        return api_key_get_owned(key_id=key_id, owner_id=dashboard_user(request).pk)
    except ApiKey.DoesNotExist as exc:
        raise Http404("No such API key.") from exc


def confirm_page(
    request: HttpRequest,
    *,
    heading: str,
    facts: list[tuple[str, str]],
    consequence: str,
    confirm_label: str,
    cancel_url: str,
    checkbox: tuple[str, str] | None = None,
    hidden: Sequence[tuple[str, str]] = (),
    error: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """The second step of a destructive action: a page whose form POSTs to this same URL.
    Plain HTML, so it works without JavaScript under the Content-Security-Policy.

    `checkbox` (name, label) adds a box the user must tick as well, for a harsher variant of
    the action (the view checks it is ticked); `hidden` (name, value) pairs carry the choice
    made on the first step to the confirming POST; `error` says why a first try was refused."""
    context = {
        "heading": heading,
        "facts": facts,
        "consequence": consequence,
        "confirm_label": confirm_label,
        "cancel_url": cancel_url,
        "checkbox": checkbox,
        "hidden": hidden,
        "error": error,
    }
    return render(request, "micro/confirm.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def api_key_revoke_view(request: HttpRequest, key_id: uuid.UUID) -> HttpResponse:
    """GET asks to confirm; POST (from that page) revokes the key."""
    api_key = _owned_key(request, key_id)
    if api_key.revoked_at is not None:
        messages.info(request, f"API key “{api_key.name}” is already revoked.")
        return redirect("dashboard:api-keys")
    if request.method != "POST":
        return confirm_page(
            request,
            heading=f"Revoke API key “{api_key.name}”?",
            facts=[("Prefix", f"mk_{api_key.prefix}_…"), ("Scopes", " ".join(api_key.scopes))],
            consequence="Anything using this key stops working at once, with the tokens"
            " exchanged for it. This cannot be undone.",
            confirm_label="Revoke key",
            cancel_url=reverse("dashboard:api-keys"),
        )
    api_key_revoke(api_key=api_key, actor=dashboard_principal(request))
    messages.success(request, f"API key “{api_key.name}” revoked.")
    return redirect("dashboard:api-keys")


@never_cache
@login_required
@require_POST
def api_key_rotate_view(request: HttpRequest, key_id: uuid.UUID) -> HttpResponse:
    """Mints a successor; the old key keeps working for the grace period, then expires."""
    api_key = _owned_key(request, key_id)
    form = ApiKeyRotateForm(request.POST)
    if not form.is_valid():
        return _api_keys_page(request, rotate_errors=form.errors, status=400)
    try:
        minted = api_key_rotate(
            api_key=api_key,
            grace_hours=form.cleaned_data["grace_hours"],
            actor=dashboard_principal(request),
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("dashboard:api-keys")
    return _api_keys_page(request, minted=minted)

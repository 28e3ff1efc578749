"""Console pages for identity providers (list, add, edit, delete) and for removing a user's
link to one. The client secret is never shown, only whether one is set."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from authn.identity_providers import admin_selectors as selectors
from authn.identity_providers import services
from authn.models import IdentityProvider
from authn.web.console.access import console_view, paginate, query_without_page, status_for
from authn.web.console.forms import IdentityProviderForm
from authn.web.views import add_validation_errors, confirm_page
from micro_platform.identity import Principal

VIA = "console"


@contextmanager
def refusals_on(form: IdentityProviderForm) -> Iterator[None]:
    """The service's refusals shown on the form; the rest of the block runs only when it did
    not refuse."""
    try:
        yield
    except ValidationError as exc:
        if hasattr(exc, "error_dict") and "scopes" in exc.error_dict:
            exc.error_dict["requested_scopes"] = exc.error_dict.pop("scopes")
        add_validation_errors(form, exc)
    except services.Conflict as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def provider_or_404(slug: str) -> IdentityProvider:
    provider = selectors.identity_provider_detail(slug=slug)
    if provider is None:
        raise Http404("No such identity provider.")
    return provider


@console_view
def identity_providers_view(request: HttpRequest, actor: Principal) -> HttpResponse:
    """Every provider; POST adds one."""
    form = IdentityProviderForm(request.POST) if request.method == "POST" else None
    if form is not None and form.is_valid():
        with refusals_on(form):
            provider = services.identity_provider_create(
                actor=actor, via=VIA, values=form.values(editing=False)
            )
            messages.success(
                request,
                f"Identity provider “{provider.slug}” added. Register its redirect URI at the"
                f" provider: {services.redirect_uri(provider)}",
            )
            return redirect("dashboard:console-identity-provider", slug=provider.slug)
    context = {
        "page": paginate(request, selectors.identity_providers_all().order_by("slug")),
        "query": query_without_page(request),
        "form": form or IdentityProviderForm(),
    }
    return render(
        request, "micro/console/identity_providers.html", context, status=status_for(form)
    )


@console_view
def identity_provider_view(request: HttpRequest, actor: Principal, slug: str) -> HttpResponse:
    """One provider and its settings; POST saves them (an empty secret keeps the stored one)."""
    provider = provider_or_404(slug)
    form = IdentityProviderForm(
        request.POST if request.method == "POST" else None,
        initial=IdentityProviderForm.initial_for(provider),
        editing=True,
    )
    if form.is_bound and form.is_valid():
        with refusals_on(form):
            services.identity_provider_update(
                actor=actor, via=VIA, provider=provider, changes=form.values(editing=True)
            )
            messages.success(request, f"Identity provider “{slug}” saved.")
            return redirect("dashboard:console-identity-provider", slug=slug)
    context = {
        "provider": provider,
        "redirect_uri": services.redirect_uri(provider),
        "form": form,
    }
    return render(request, "micro/console/identity_provider.html", context, status=status_for(form))


@console_view
def identity_provider_delete_view(
    request: HttpRequest, actor: Principal, slug: str
) -> HttpResponse:
    """GET asks to confirm; POST deletes the provider and every account's link to it."""
    provider = provider_or_404(slug)
    if request.method == "POST":
        count = services.identity_provider_delete(actor=actor, via=VIA, provider=provider)
        messages.success(request, f"Identity provider “{slug}” deleted with {count} link(s).")
        return redirect("dashboard:console-identity-providers")
    return confirm_page(
        request,
        heading=f"Delete identity provider “{provider.display_name}”?",
        facts=[
            ("Slug", provider.slug),
            ("Issuer", provider.issuer),
            ("Linked accounts", str(provider.identity_count)),  # type: ignore[attr-defined]
        ],
        consequence="Nobody can sign in with it any more, and every account's link to it is"
        " removed: an account with no password and no other link can then only get in"
        " through a password reset. This cannot be undone.",
        confirm_label="Delete identity provider",
        cancel_url=reverse("dashboard:console-identity-provider", kwargs={"slug": slug}),
    )


@console_view
def user_identity_unlink_view(
    request: HttpRequest, actor: Principal, user_id: uuid.UUID, identity_id: uuid.UUID
) -> HttpResponse:
    """GET asks to confirm; POST removes the user's link, unless it is their last way to
    sign in."""
    identity = selectors.external_identity_of_user(user_id=user_id, identity_id=identity_id)
    if identity is None:
        raise Http404("No such linked identity.")
    user_url = reverse("dashboard:console-user", kwargs={"user_id": user_id})
    error, status = None, 200
    if request.method == "POST":
        try:
            services.external_identity_unlink(actor=actor, identity=identity, via=VIA)
        except services.LastSignInMethod as exc:
            error, status = exc.message, 409
        else:
            messages.success(request, f"Link to {identity.provider.display_name} removed.")
            return redirect(user_url + "#identities")
    return confirm_page(
        request,
        heading=f"Remove {identity.user.username}'s link to {identity.provider.display_name}?",
        facts=[("Provider", identity.provider.slug), ("Subject", identity.subject)],
        consequence="They can no longer sign in with this provider until they link it again.",
        confirm_label="Remove link",
        cancel_url=user_url,
        error=error,
        status=status,
    )

"""Dashboard: the OAuth 2.0 clients a user registered for their own applications."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from authn.oauth.services import (
    RegisteredClient,
    user_client_delete,
    user_client_get,
    user_client_register,
)
from authn.oauth.services import user_clients as clients_of
from authn.web.forms import ApplicationForm
from authn.web.views import (
    add_validation_errors,
    confirm_page,
    dashboard_principal,
    dashboard_user,
)


def _page(
    request: HttpRequest,
    *,
    form: ApplicationForm | None = None,
    registered: RegisteredClient | None = None,
) -> HttpResponse:
    context = {
        "form": form or ApplicationForm(),
        "applications": clients_of(owner=dashboard_user(request)),
        "registered": registered,
    }
    status = 400 if form is not None and form.errors else 200
    return render(request, "micro/applications.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def applications_view(request: HttpRequest) -> HttpResponse:
    """Lists the user's clients; POST registers one and shows its secret in this response."""
    if request.method != "POST":
        return _page(request)
    form = ApplicationForm(request.POST)
    if form.is_valid():
        try:
            registered = user_client_register(
                owner=dashboard_user(request),
                name=form.cleaned_data["name"],
                client_type=form.cleaned_data["client_type"],
                redirect_uris=form.cleaned_data["redirect_uris"],
                actor=dashboard_principal(request),
            )
        except ValidationError as exc:
            add_validation_errors(form, exc, default_field="redirect_uris")
        else:
            return _page(request, registered=registered)
    return _page(request, form=form)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def application_delete_view(request: HttpRequest, application_id: int) -> HttpResponse:
    """GET asks to confirm; POST (from that page) deletes the client."""
    application = user_client_get(owner=dashboard_user(request), application_id=application_id)
    if application is None:
        raise Http404("No such application.")
    if request.method != "POST":
        return confirm_page(
            request,
            heading=f"Delete application “{application.name}”?",
            facts=[("Client ID", application.client_id)],
            consequence="Its tokens are revoked at once, and nobody can sign in to it any more."
            " This cannot be undone.",
            confirm_label="Delete application",
            cancel_url=reverse("dashboard:applications"),
        )
    user_client_delete(application=application, actor=dashboard_principal(request))
    messages.success(request, f"Application “{application.name}” deleted; its tokens are revoked.")
    return redirect("dashboard:applications")

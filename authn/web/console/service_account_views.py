"""Console pages for service accounts (machine identities: API keys and client-credentials
clients, never a password) and for every OAuth 2.0 client."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts import selectors as accounts
from accounts.models import User
from accounts.services import Conflict, user_create
from audit.selectors import audit_events_of_user
from authn.api_keys.selectors import api_keys_of
from authn.api_keys.services import api_key_create
from authn.oauth.selectors import oauth_client_get, oauth_clients_all, oauth_clients_of
from authn.oauth.services import service_account_client_create, user_client_delete
from authn.web.console.access import console_view, paginate, query_without_page, status_for
from authn.web.console.forms import ServiceAccountForm
from authn.web.console.user_views import RECENT_EVENTS, user_or_404
from authn.web.forms import ApiKeyCreateForm
from authn.web.views import add_validation_errors, confirm_page
from micro_platform.http import client_ip
from micro_platform.identity import Principal
from permissions.role_selectors import roles_of


@console_view
def service_accounts_view(request: HttpRequest, actor: Principal) -> HttpResponse:
    """Every service account; POST creates one with the scopes ticked."""
    form = ServiceAccountForm(request.POST) if request.method == "POST" else None
    if form is not None and form.is_valid():
        try:
            account = user_create(
                actor=actor,
                username=form.cleaned_data["username"],
                display_name=form.cleaned_data["display_name"],
                kind=User.Kind.SERVICE,
                scopes=form.cleaned_data["scopes"],
                ip_address=client_ip(request),
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        except Conflict as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Service account {account.username} created.")
            return redirect("dashboard:console-service-account", user_id=account.pk)
    context = {
        "page": paginate(request, accounts.users_search(kind=User.Kind.SERVICE)),
        "query": query_without_page(request),
        "form": form or ServiceAccountForm(),
    }
    return render(request, "micro/console/service_accounts.html", context, status=status_for(form))


def _account_page(
    request: HttpRequest, account: User, *, status: int = 200, **extra: Any
) -> HttpResponse:
    held = accounts.user_held_scopes(user=account)
    context = {
        "account": account,
        "held_scopes": sorted(held),
        "memberships": paginate(
            request, accounts.memberships_of_user(user=account), param="groups_page"
        ),
        "memberships_query": query_without_page(request, "groups_page"),
        "roles": paginate(
            request, roles_of(subject_type="user", subject_id=account.pk), param="roles_page"
        ),
        "roles_query": query_without_page(request, "roles_page"),
        "api_keys": paginate(request, api_keys_of(owner_id=account.pk), param="keys_page"),
        "api_keys_query": query_without_page(request, "keys_page"),
        "clients": paginate(request, oauth_clients_of(owner_id=account.pk), param="clients_page"),
        "clients_query": query_without_page(request, "clients_page"),
        "events": audit_events_of_user(user_id=account.pk)[:RECENT_EVENTS],
        "key_form": ApiKeyCreateForm(held_scopes=held),
        **extra,
    }
    return render(request, "micro/console/service_account.html", context, status=status)


@console_view
def service_account_view(
    request: HttpRequest, actor: Principal, user_id: uuid.UUID
) -> HttpResponse:
    """One service account: its scopes, keys, clients and recent events; the keys and the
    clients are paged each by its own parameter (`keys_page`, `clients_page`)."""
    return _account_page(request, user_or_404(user_id, kind=User.Kind.SERVICE))


@console_view
def service_account_key_view(
    request: HttpRequest, actor: Principal, user_id: uuid.UUID
) -> HttpResponse:
    """POST mints an API key for the account; its secret is in this response only."""
    account = user_or_404(user_id, kind=User.Kind.SERVICE)
    if request.method != "POST":
        return redirect("dashboard:console-service-account", user_id=account.pk)
    form = ApiKeyCreateForm(request.POST, held_scopes=accounts.user_held_scopes(user=account))
    if form.is_valid():
        try:
            minted = api_key_create(
                owner=account,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_in_days=form.cleaned_data["expires_in_days"],
                actor=actor,
                resource=form.cleaned_data["resource"] or None,
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        except PermissionDenied as exc:
            form.add_error("scopes", str(exc))
        else:
            return _account_page(request, account, minted=minted)
    return _account_page(request, account, key_form=form, status=400)


@console_view
def service_account_client_view(
    request: HttpRequest, actor: Principal, user_id: uuid.UUID
) -> HttpResponse:
    """POST registers a client-credentials client acting as the account; its secret is in
    this response only."""
    account = user_or_404(user_id, kind=User.Kind.SERVICE)
    if request.method != "POST":
        return redirect("dashboard:console-service-account", user_id=account.pk)
    registered = service_account_client_create(account=account, actor=actor)
    return _account_page(request, account, registered=registered)


@console_view
def clients_view(request: HttpRequest, actor: Principal) -> HttpResponse:
    """Every OAuth 2.0 client, whoever registered it."""
    context = {"page": paginate(request, oauth_clients_all()), "query": query_without_page(request)}
    return render(request, "micro/console/clients.html", context)


@console_view
def client_delete_view(request: HttpRequest, actor: Principal, application_id: int) -> HttpResponse:
    """GET asks to confirm; POST deletes the client, revoking its tokens."""
    application = oauth_client_get(application_id=application_id)
    if application is None:
        raise Http404("No such client.")
    if request.method == "POST":
        user_client_delete(application=application, actor=actor)
        messages.success(request, f"Client “{application.name}” deleted; its tokens are revoked.")
        return redirect("dashboard:console-clients")
    owner = application.user.username if application.user else "—"
    return confirm_page(
        request,
        heading=f"Delete client “{application.name}”?",
        facts=[
            ("Client ID", application.client_id),
            ("Owner", owner),
            ("Grant", application.authorization_grant_type),
        ],
        consequence="Its tokens are revoked at once and it can no longer sign in or get"
        " tokens. This cannot be undone.",
        confirm_label="Delete client",
        cancel_url=reverse("dashboard:console-clients"),
    )

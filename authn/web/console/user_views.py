"""Console pages for people's accounts: search, create, deactivate and reactivate, unlock,
reset MFA; each user's sessions, API keys and recent events."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts import selectors as accounts
from accounts.models import User
from accounts.services import Conflict, user_create, user_deactivate, user_update
from audit.selectors import audit_events_of_user
from authn.api_keys.selectors import api_keys_of
from authn.identity_providers.selectors import external_identities_of
from authn.lockout import account_unlock
from authn.mfa.services import mfa_reset_by_admin, user_has_mfa
from authn.web.console.access import console_view, paginate, query_without_page, status_for
from authn.web.console.forms import RoleGiveForm, UserCreateForm, UserSearchForm
from authn.web.selectors import dashboard_sessions_of
from authn.web.views import add_validation_errors, confirm_page
from micro_platform.http import client_ip
from micro_platform.identity import Principal
from permissions import registry_selectors
from permissions.role_selectors import roles_of
from permissions.roles import role_assign, role_get, role_unassign

RECENT_EVENTS = 20


def user_or_404(user_id: uuid.UUID, *, kind: str | None = None) -> User:
    user = accounts.user_get(user_id=user_id)
    if user is None or (kind is not None and user.kind != kind):
        raise Http404("No such user.")
    return user


@console_view
def users_view(request: HttpRequest, actor: Principal) -> HttpResponse:
    """People's accounts, searched by username, email or name; POST creates one."""
    search = UserSearchForm(request.GET)
    query = search.cleaned_data["q"] if search.is_valid() else ""
    form = UserCreateForm(request.POST) if request.method == "POST" else None
    if form is not None and form.is_valid():
        try:
            user = user_create(
                actor=actor,
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                display_name=form.cleaned_data["display_name"],
                password=form.cleaned_data["password"] or None,
                ip_address=client_ip(request),
            )
        except ValidationError as exc:
            add_validation_errors(form, exc, default_field="password")
        except Conflict as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"User {user.username} created.")
            return redirect("dashboard:console-user", user_id=user.pk)
    context = {
        "search": search,
        "page": paginate(request, accounts.users_search(query=query, kind=User.Kind.USER)),
        "query": query_without_page(request),
        "form": form or UserCreateForm(),
    }
    return render(request, "micro/console/users.html", context, status=status_for(form))


def role_give_form(data: object = None) -> RoleGiveForm:
    """A choice of every role, for giving one to a user or a group."""
    roles = [(str(role.pk), role.name) for role in registry_selectors.roles_all()]
    return RoleGiveForm(data, roles=roles, auto_id="role_%s")


def _user_page(
    request: HttpRequest, user: User, *, role_form: RoleGiveForm | None = None
) -> HttpResponse:
    context = {
        "account": user,
        "has_mfa": user_has_mfa(user=user),
        "memberships": paginate(
            request, accounts.memberships_of_user(user=user), param="groups_page"
        ),
        "memberships_query": query_without_page(request, "groups_page"),
        "roles": paginate(
            request, roles_of(subject_type="user", subject_id=user.pk), param="roles_page"
        ),
        "roles_query": query_without_page(request, "roles_page"),
        "role_form": role_form or role_give_form(),
        "sessions": paginate(
            request, dashboard_sessions_of(user_id=user.pk), param="sessions_page"
        ),
        "sessions_query": query_without_page(request, "sessions_page"),
        "api_keys": paginate(request, api_keys_of(owner_id=user.pk), param="keys_page"),
        "api_keys_query": query_without_page(request, "keys_page"),
        "identities": external_identities_of(user=user),
        "events": audit_events_of_user(user_id=user.pk)[:RECENT_EVENTS],
    }
    return render(request, "micro/console/user.html", context, status=status_for(role_form))


@console_view
def user_view(request: HttpRequest, actor: Principal, user_id: uuid.UUID) -> HttpResponse:
    """One account: its groups, roles, MFA, sessions, API keys, linked identities and recent
    events; the roles, sessions and keys are paged each by its own parameter (`roles_page`,
    `sessions_page`, `keys_page`)."""
    return _user_page(request, user_or_404(user_id))


@console_view
def user_role_give_view(request: HttpRequest, actor: Principal, user_id: uuid.UUID) -> HttpResponse:
    """POST gives a role to the user."""
    user = user_or_404(user_id)
    if request.method != "POST":
        return _back(user)
    form = role_give_form(request.POST)
    if not form.is_valid():
        return _user_page(request, user, role_form=form)
    role = role_get(role_id=form.cleaned_data["role"])
    if role is None:  # deleted since the page was shown
        form.add_error("role", "No such role.")
        return _user_page(request, user, role_form=form)
    role_assign(actor=actor, role=role, subject_type="user", subject_id=user.pk)
    messages.success(request, f"{user.username} has the role “{role.name}”.")
    return _back(user)


@console_view
def user_role_take_view(
    request: HttpRequest, actor: Principal, user_id: uuid.UUID, role_id: uuid.UUID
) -> HttpResponse:
    """GET asks to confirm; POST takes the role from the user."""
    user = user_or_404(user_id)
    role = role_get(role_id=role_id)
    if role is None:
        raise Http404("No such role.")
    if request.method == "POST":
        role_unassign(actor=actor, role=role, subject_type="user", subject_id=user.pk)
        messages.success(request, f"{user.username} no longer has the role “{role.name}”.")
        return _back(user)
    return confirm_page(
        request,
        heading=f"Take the role “{role.name}” from {user.username}?",
        facts=[("Role scopes", " ".join(role.scopes) or "none")],
        consequence="They lose the role's scopes on their next token, API-key use and dashboard"
        " request (unless they hold them otherwise).",
        confirm_label="Take role",
        cancel_url=reverse("dashboard:console-user", kwargs={"user_id": user.pk}),
    )


def _back(user: User) -> HttpResponse:
    return redirect("dashboard:console-user", user_id=user.pk)


@console_view
def user_deactivate_view(
    request: HttpRequest, actor: Principal, user_id: uuid.UUID
) -> HttpResponse:
    """GET asks to confirm; POST deactivates the account and ends all its sign-ins."""
    user = user_or_404(user_id)
    if not user.is_active:
        return _back(user)
    if request.method == "POST":
        try:
            user_deactivate(actor=actor, user=user)
        except PermissionDenied as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{user.username} deactivated; every sign-in ended.")
        return _back(user)
    return confirm_page(
        request,
        heading=f"Deactivate {user.username}?",
        facts=[("Email", user.email or "—"), ("Kind", user.kind)],
        consequence="The account can no longer sign in; its sessions, tokens and API keys stop"
        " working at once." + (" This is your own account." if actor.is_self(user.pk) else ""),
        confirm_label="Deactivate",
        cancel_url=reverse("dashboard:console-user", kwargs={"user_id": user.pk}),
    )


@console_view
def user_reactivate_view(
    request: HttpRequest, actor: Principal, user_id: uuid.UUID
) -> HttpResponse:
    """POST lets a deactivated account sign in again (its old credentials stay revoked)."""
    user = user_or_404(user_id)
    if request.method == "POST" and not user.is_active:
        user_update(actor=actor, user=user, changes={"is_active": True})
        messages.success(request, f"{user.username} reactivated.")
    return _back(user)


@console_view
def user_unlock_view(request: HttpRequest, actor: Principal, user_id: uuid.UUID) -> HttpResponse:
    """POST lifts a sign-in lockout of the account."""
    user = user_or_404(user_id)
    if request.method == "POST":
        account_unlock(user=user, actor=actor)
        messages.success(request, f"{user.username} may sign in again (lockout lifted).")
    return _back(user)


@console_view
def user_mfa_reset_view(request: HttpRequest, actor: Principal, user_id: uuid.UUID) -> HttpResponse:
    """GET asks to confirm; POST removes every MFA device and ends every sign-in."""
    user = user_or_404(user_id)
    if request.method == "POST":
        mfa_reset_by_admin(user=user, actor=actor)
        messages.success(request, f"Two-factor authentication of {user.username} removed.")
        return _back(user)
    return confirm_page(
        request,
        heading=f"Reset two-factor authentication of {user.username}?",
        facts=[("Has MFA", "yes" if user_has_mfa(user=user) else "no")],
        consequence="For a lost authenticator, once you know it is them: every device and"
        " backup code is removed and every sign-in ended; they sign in with the password alone"
        " and should enrol again at once.",
        confirm_label="Reset MFA",
        cancel_url=reverse("dashboard:console-user", kwargs={"user_id": user.pk}),
    )

"""Console pages for the scope registry: services and their scopes, and roles."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from authn.web.console.access import console_view, paginate, query_without_page, status_for
from authn.web.console.forms import ForceForm, RoleEditForm, RoleForm, ScopeForm, ServiceForm
from authn.web.views import add_validation_errors, confirm_page
from micro_platform.identity import Principal
from permissions import registry_selectors as selectors
from permissions.registry import (
    Conflict,
    scope_create,
    scope_delete,
    scope_uses,
    service_create,
    service_delete,
    service_get,
)
from permissions.roles import role_create, role_delete, role_get, role_update


def form_error(form: Form, exc: Conflict) -> None:
    """A registry refusal shown on the form, on the field it names when the form has it."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


@contextmanager
def refusals_on(form: Form) -> Iterator[None]:
    """A registry or role service's refusals shown on the form; the rest of the block (the
    success message and redirect) runs only when the service did not refuse."""
    try:
        yield
    except ValidationError as exc:
        add_validation_errors(form, exc)
    except Conflict as exc:
        form_error(form, exc)


@console_view
def services_view(request: HttpRequest, actor: Principal) -> HttpResponse:
    """Every service; POST registers one."""
    form = ServiceForm(request.POST) if request.method == "POST" else None
    if form is not None and form.is_valid():
        with refusals_on(form):
            service = service_create(
                actor=actor,
                name=form.cleaned_data["name"],
                audience=form.cleaned_data["audience"] or None,
                description=form.cleaned_data["description"],
            )
            messages.success(request, f"Service “{service.name}” registered.")
            return redirect("dashboard:console-service", service_id=service.pk)
    context = {
        "page": paginate(request, selectors.services_with_scope_counts()),
        "query": query_without_page(request),
        "form": form or ServiceForm(),
    }
    return render(request, "micro/console/services.html", context, status=status_for(form))


@console_view
def service_view(request: HttpRequest, actor: Principal, service_id: uuid.UUID) -> HttpResponse:
    """One service and its scopes; POST adds a scope."""
    service = service_get(service_id=service_id)
    if service is None:
        raise Http404("No such service.")
    form = ScopeForm(request.POST) if request.method == "POST" else None
    if form is not None and form.is_valid():
        with refusals_on(form):
            scope = scope_create(
                actor=actor,
                service=service,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
            messages.success(request, f"Scope “{scope.name}” added.")
            return redirect("dashboard:console-service", service_id=service.pk)
    context = {
        "service": service,
        "page": paginate(request, selectors.scopes_of_service(service=service)),
        "query": query_without_page(request),
        "form": form or ScopeForm(initial={"name": f"{service.name}:"}),
    }
    return render(request, "micro/console/service.html", context, status=status_for(form))


def _forced(request: HttpRequest) -> bool:
    form = ForceForm(request.POST)
    return form.is_valid() and bool(form.cleaned_data["force"])


@console_view
def scope_delete_view(
    request: HttpRequest, actor: Principal, service_id: uuid.UUID, name: str
) -> HttpResponse:
    """GET asks to confirm (with the scope's holders, and a box to take it from them); POST
    deletes it, refused while it is used unless that box is ticked."""
    service = service_get(service_id=service_id)
    if service is None:
        raise Http404("No such service.")
    scope = selectors.scope_of_service(service=service, name=name)
    if scope is None:
        raise Http404("No such scope.")
    error, status = None, 200
    if request.method == "POST":
        try:
            scope_delete(actor=actor, scope=scope, force=_forced(request))
        except Conflict as exc:
            error, status = exc.message, 409
        else:
            messages.success(request, f"Scope “{name}” deleted.")
            return redirect("dashboard:console-service", service_id=service.pk)
    uses = scope_uses(frozenset({name}))
    return confirm_page(
        request,
        heading=f"Delete scope “{name}”?",
        facts=[("Service", service.name), ("Used by", uses.describe() if uses else "nobody")],
        consequence="Tokens already issued keep it until they expire; nothing can be given it"
        " again. The name cannot be changed, only created again.",
        confirm_label="Delete scope",
        cancel_url=reverse("dashboard:console-service", kwargs={"service_id": service.pk}),
        checkbox=("force", f"Also take it from {uses.describe()}") if uses else None,
        error=error,
        status=status,
    )


@console_view
def service_delete_view(
    request: HttpRequest, actor: Principal, service_id: uuid.UUID
) -> HttpResponse:
    """GET asks to confirm; POST deletes the service and its scopes (as scope deletion)."""
    service = service_get(service_id=service_id)
    if service is None:
        raise Http404("No such service.")
    error, status = None, 200
    if request.method == "POST":
        try:
            service_delete(actor=actor, service=service, force=_forced(request))
        except Conflict as exc:
            error, status = exc.message, 409
        else:
            messages.success(request, f"Service “{service.name}” deleted.")
            return redirect("dashboard:console-services")
    names = selectors.scope_names_of_service(service=service)
    uses = scope_uses(names) if names else None
    return confirm_page(
        request,
        heading=f"Delete service “{service.name}”?",
        facts=[
            ("Audience", service.audience),
            ("Scopes", " ".join(sorted(names)) or "none"),
            ("Used by", uses.describe() if uses else "nobody"),
        ],
        consequence="Its scopes are deleted with it. This cannot be undone.",
        confirm_label="Delete service",
        cancel_url=reverse("dashboard:console-service", kwargs={"service_id": service.pk}),
        checkbox=("force", f"Also take its scopes from {uses.describe()}") if uses else None,
        error=error,
        status=status,
    )


@console_view
def roles_view(request: HttpRequest, actor: Principal) -> HttpResponse:
    """Every role; POST creates one with the scopes ticked."""
    form = RoleForm(request.POST) if request.method == "POST" else None
    if form is not None and form.is_valid():
        with refusals_on(form):
            role = role_create(
                actor=actor,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                description=form.cleaned_data["description"],
            )
            messages.success(request, f"Role “{role.name}” created.")
            return redirect("dashboard:console-role", role_id=role.pk)
    context = {
        "page": paginate(request, selectors.roles_with_holder_counts()),
        "query": query_without_page(request),
        "form": form or RoleForm(),
    }
    return render(request, "micro/console/roles.html", context, status=status_for(form))


@console_view
def role_view(request: HttpRequest, actor: Principal, role_id: uuid.UUID) -> HttpResponse:
    """One role; POST changes its scopes and description."""
    role = role_get(role_id=role_id)
    if role is None:
        raise Http404("No such role.")
    initial = {"description": role.description, "scopes": list(role.scopes)}
    form = RoleEditForm(request.POST if request.method == "POST" else None, initial=initial)
    if form.is_bound and form.is_valid():
        try:
            role_update(
                actor=actor,
                role=role,
                scopes=form.cleaned_data["scopes"],
                description=form.cleaned_data["description"],
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            messages.success(request, f"Role “{role.name}” saved.")
            return redirect("dashboard:console-role", role_id=role.pk)
    context = {
        "role": role,
        "form": form,
        "holders": selectors.role_holder_counts(role=role),
    }
    return render(request, "micro/console/role.html", context, status=status_for(form))


@console_view
def role_delete_view(request: HttpRequest, actor: Principal, role_id: uuid.UUID) -> HttpResponse:
    """GET asks to confirm; POST deletes the role, taking it from everyone given it."""
    role = role_get(role_id=role_id)
    if role is None:
        raise Http404("No such role.")
    if request.method == "POST":
        role_delete(actor=actor, role=role)
        messages.success(request, f"Role “{role.name}” deleted.")
        return redirect("dashboard:console-roles")
    holders = selectors.role_holder_counts(role=role)
    return confirm_page(
        request,
        heading=f"Delete role “{role.name}”?",
        facts=[
            ("Scopes", " ".join(role.scopes) or "none"),
            ("Given to", f"{holders['user']} users, {holders['group']} groups"),
        ],
        consequence="Everyone given it loses its scopes on their next token, API-key use and"
        " dashboard request. This cannot be undone.",
        confirm_label="Delete role",
        cancel_url=reverse("dashboard:console-role", kwargs={"role_id": role.pk}),
    )

"""Console pages for groups: their members, the roles given to them, their scopes."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts import selectors as accounts
from accounts.models import Group
from accounts.services import (
    Conflict,
    group_create,
    group_member_add,
    group_member_remove,
    group_scopes_set,
)
from authn.web.console.access import console_view, paginate, query_without_page, status_for
from authn.web.console.forms import (
    ConfirmedForm,
    GroupForm,
    GroupScopesForm,
    MemberAddForm,
    RoleGiveForm,
)
from authn.web.console.user_views import role_give_form
from authn.web.views import add_validation_errors, confirm_page
from micro_platform.identity import Principal
from permissions.role_selectors import roles_of
from permissions.roles import role_assign, role_get, role_unassign


def _group_or_404(group_id: uuid.UUID) -> Group:
    group = accounts.group_get(group_id=group_id)
    if group is None:
        raise Http404("No such group.")
    return group


@console_view
def groups_view(request: HttpRequest, actor: Principal) -> HttpResponse:
    """Every group; POST creates one with the scopes ticked."""
    form = GroupForm(request.POST) if request.method == "POST" else None
    if form is not None and form.is_valid():
        try:
            group = group_create(
                actor=actor, name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"]
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        except Conflict as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, f"Group “{group.name}” created.")
            return redirect("dashboard:console-group", group_id=group.pk)
    context = {
        "page": paginate(request, accounts.groups_all()),
        "query": query_without_page(request),
        "form": form or GroupForm(),
    }
    return render(request, "micro/console/groups.html", context, status=status_for(form))


def _group_page(
    request: HttpRequest,
    group: Group,
    *,
    member_form: MemberAddForm | None = None,
    role_form: RoleGiveForm | None = None,
    scopes_form: GroupScopesForm | None = None,
) -> HttpResponse:
    context = {
        "group": group,
        "page": paginate(request, accounts.group_memberships(group=group)),
        "query": query_without_page(request),
        "roles": paginate(
            request, roles_of(subject_type="group", subject_id=group.pk), param="roles_page"
        ),
        "roles_query": query_without_page(request, "roles_page"),
        "member_form": member_form or MemberAddForm(auto_id="member_%s"),
        "role_form": role_form or role_give_form(),
        "scopes_form": scopes_form or _scopes_form(group),
    }
    status = status_for(member_form, role_form, scopes_form)
    return render(request, "micro/console/group.html", context, status=status)


@console_view
def group_view(request: HttpRequest, actor: Principal, group_id: uuid.UUID) -> HttpResponse:
    """One group: its scopes, members (`page`) and roles (`roles_page`)."""
    return _group_page(request, _group_or_404(group_id))


def _scopes_form(group: Group, data: object = None) -> GroupScopesForm:
    """The registry's scopes as checkboxes, the group's current ones ticked."""
    return GroupScopesForm(data, initial={"scopes": list(group.scopes)}, auto_id="scopes_%s")


@console_view
def group_scopes_view(request: HttpRequest, actor: Principal, group_id: uuid.UUID) -> HttpResponse:
    """POST sets the scopes the group gives its members. A change that takes any away asks
    to confirm first (members lose them, as when a role is taken); one that only adds does
    not."""
    group = _group_or_404(group_id)
    if request.method != "POST":
        return redirect("dashboard:console-group", group_id=group.pk)
    form = _scopes_form(group, request.POST)
    if not form.is_valid():
        return _group_page(request, group, scopes_form=form)
    scopes = form.cleaned_data["scopes"]
    removed = sorted(set(group.scopes) - set(scopes))
    if removed and not _confirmed(request):
        return _scopes_confirm_page(request, group, scopes=scopes, removed=removed)
    try:
        group_scopes_set(actor=actor, group=group, scopes=scopes)
    except ValidationError as exc:
        add_validation_errors(form, exc)
        return _group_page(request, group, scopes_form=form)
    messages.success(request, f"Scopes of “{group.name}” saved.")
    return redirect("dashboard:console-group", group_id=group.pk)


def _confirmed(request: HttpRequest) -> bool:
    form = ConfirmedForm(request.POST)
    return form.is_valid() and bool(form.cleaned_data["confirmed"])


def _scopes_confirm_page(
    request: HttpRequest, group: Group, *, scopes: list[str], removed: list[str]
) -> HttpResponse:
    return confirm_page(
        request,
        heading=f"Take {len(removed)} scope(s) from “{group.name}”?",
        facts=[
            ("Taken away", " ".join(removed)),
            ("Scopes after", " ".join(sorted(scopes)) or "none"),
            ("Members", str(accounts.group_memberships(group=group).count())),
        ],
        consequence="Its members lose the scopes taken away on their next token, API-key use"
        " and dashboard request (unless they hold them otherwise).",
        confirm_label="Take scopes",
        cancel_url=reverse("dashboard:console-group", kwargs={"group_id": group.pk}),
        hidden=[("confirmed", "on"), *(("scopes", scope) for scope in sorted(scopes))],
    )


@console_view
def group_member_add_view(
    request: HttpRequest, actor: Principal, group_id: uuid.UUID
) -> HttpResponse:
    """POST adds a user (by username) to the group, or changes their role in it."""
    group = _group_or_404(group_id)
    if request.method != "POST":
        return redirect("dashboard:console-group", group_id=group.pk)
    form = MemberAddForm(request.POST, auto_id="member_%s")
    if form.is_valid():
        user = accounts.user_get_by_username(username=form.cleaned_data["username"])
        if user is None:
            form.add_error("username", "No user with this username.")
        else:
            try:
                group_member_add(
                    actor=actor, group=group, user=user, role=form.cleaned_data["role"]
                )
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"{user.username} is in “{group.name}”.")
                return redirect("dashboard:console-group", group_id=group.pk)
    return _group_page(request, group, member_form=form)


@console_view
def group_member_remove_view(
    request: HttpRequest, actor: Principal, group_id: uuid.UUID, user_id: uuid.UUID
) -> HttpResponse:
    """GET asks to confirm; POST removes the user from the group."""
    group = _group_or_404(group_id)
    user = accounts.user_get(user_id=user_id)
    if user is None:
        raise Http404("No such user.")
    if request.method == "POST":
        group_member_remove(actor=actor, group=group, user_id=user.pk)
        messages.success(request, f"{user.username} is no longer in “{group.name}”.")
        return redirect("dashboard:console-group", group_id=group.pk)
    return confirm_page(
        request,
        heading=f"Remove {user.username} from “{group.name}”?",
        facts=[("Group scopes", " ".join(group.scopes) or "none")],
        consequence="They lose the group's scopes and roles on their next token, API-key use"
        " and dashboard request.",
        confirm_label="Remove member",
        cancel_url=reverse("dashboard:console-group", kwargs={"group_id": group.pk}),
    )


@console_view
def group_role_give_view(
    request: HttpRequest, actor: Principal, group_id: uuid.UUID
) -> HttpResponse:
    """POST gives a role to the group."""
    group = _group_or_404(group_id)
    if request.method != "POST":
        return redirect("dashboard:console-group", group_id=group.pk)
    form = role_give_form(request.POST)
    if not form.is_valid():
        return _group_page(request, group, role_form=form)
    role = role_get(role_id=form.cleaned_data["role"])
    if role is None:  # deleted since the page was shown
        form.add_error("role", "No such role.")
        return _group_page(request, group, role_form=form)
    role_assign(actor=actor, role=role, subject_type="group", subject_id=group.pk)
    messages.success(request, f"“{group.name}” has the role “{role.name}”.")
    return redirect("dashboard:console-group", group_id=group.pk)


@console_view
def group_role_take_view(
    request: HttpRequest, actor: Principal, group_id: uuid.UUID, role_id: uuid.UUID
) -> HttpResponse:
    """GET asks to confirm; POST takes the role from the group."""
    group = _group_or_404(group_id)
    role = role_get(role_id=role_id)
    if role is None:
        raise Http404("No such role.")
    if request.method == "POST":
        role_unassign(actor=actor, role=role, subject_type="group", subject_id=group.pk)
        messages.success(request, f"“{group.name}” no longer has the role “{role.name}”.")
        return redirect("dashboard:console-group", group_id=group.pk)
    return confirm_page(
        request,
        heading=f"Take the role “{role.name}” from “{group.name}”?",
        facts=[("Role scopes", " ".join(role.scopes) or "none")],
        consequence="Its members lose the role's scopes on their next token, API-key use and"
        " dashboard request (unless they hold them otherwise).",
        confirm_label="Take role",
        cancel_url=reverse("dashboard:console-group", kwargs={"group_id": group.pk}),
    )

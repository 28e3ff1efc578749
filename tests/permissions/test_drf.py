"""HasObjectGrant: allow, deny (404 hidden / 403 readable) and anonymous cases; the
HasRequiredScopes refusal naming what is missing."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from accounts.models import User
from accounts.principals import principal_for_user
from micro_platform.scope_checks import HasRequiredScopes, answers
from objects.models import Object
from permissions.drf import HasObjectGrant
from tests.factories import GroupFactory, MembershipFactory
from tests.permissions.helpers import grant, grants_queries, make_object, principal

pytestmark = pytest.mark.django_db(databases="__all__")


class ObjectView:
    access_object_type = "object"


def allowed(method: str, who: Any, obj: Object) -> bool:
    request = getattr(APIRequestFactory(), method.lower())("/")
    request.user = who
    permission = HasObjectGrant()
    return permission.has_permission(request, ObjectView()) and permission.has_object_permission(
        request, ObjectView(), obj
    )


def test_owner_may_do_everything(user: User) -> None:
    obj = make_object(user)
    assert all(allowed(m, principal(user), obj) for m in ("GET", "PATCH", "PUT", "DELETE"))


def test_reader_reads_but_may_not_write_or_delete(user: User, other_user: User) -> None:
    obj = make_object(user)
    grant(obj, other_user, read=True)
    reader = principal(other_user)
    assert allowed("GET", reader, obj)
    assert not allowed("PATCH", reader, obj)
    assert not allowed("DELETE", reader, obj)


def test_stranger_gets_not_found_for_every_method(user: User, other_user: User) -> None:
    obj = make_object(user)
    for method in ("GET", "PATCH", "DELETE"):
        with pytest.raises(NotFound):
            allowed(method, principal(other_user), obj)


def test_anonymous_and_unknown_methods_are_denied(user: User) -> None:
    obj = make_object(user)
    assert not allowed("GET", None, obj)
    assert not allowed("POST", principal(user), obj)


def test_an_object_check_costs_one_query_whatever_the_method(user: User, other_user: User) -> None:
    obj = make_object(user)
    grant(obj, other_user, read=True, write=True)
    writer = principal(other_user)
    for method in ("GET", "PATCH", "DELETE"):
        with grants_queries() as queries:
            allowed(method, writer, obj)
        assert len(queries.captured_queries) == 1, method


def test_a_group_grant_counts_like_a_direct_one(user: User, other_user: User) -> None:
    obj = make_object(user)
    team = GroupFactory.create()
    MembershipFactory.create(user=other_user, group=team)
    grant(obj, team.pk, subject_type="group", read=True, write=True)
    member = principal(other_user)
    assert allowed("PATCH", member, obj)
    assert not allowed("DELETE", member, obj)


class ScopedView:
    required_scopes = ("objects:read", "objects:write", "users:write")
    http_method_names = ("get",)

    def get(self) -> None:
        """The handler the permission looks for."""


def scope_check(who: Any) -> tuple[bool, HasRequiredScopes]:
    request = APIRequestFactory().get("/")
    request.user = who
    permission = HasRequiredScopes()
    return permission.has_permission(request, ScopedView()), permission


def test_a_scope_refusal_names_each_missing_scope_and_only_those(user: User) -> None:
    holder = principal_for_user(user, method="jwt", scopes=frozenset({"objects:read"}))

    allowed, permission = scope_check(holder)

    assert not allowed
    assert permission.message == "The credential lacks: objects:write users:write."
    assert permission.code == "insufficient_scope"


def test_scope_checks_allow_a_holder_and_deny_anonymous(admin_user: User) -> None:
    assert scope_check(principal_for_user(admin_user, method="jwt"))[0]
    assert not scope_check(None)[0]


class OptionsHandlingView(APIView):
    """A view that answers OPTIONS with its own handler, as the gateway's verify does."""

    required_scopes = ("users:write",)

    def get(self, request: Request) -> Response:
        return Response()

    options = get


def test_a_view_answering_options_requires_its_scopes_for_it(user: User) -> None:
    holder = principal_for_user(user, method="jwt", scopes=frozenset({"objects:read"}))
    request: Any = APIRequestFactory().options("/")
    request.user = holder

    assert answers(OptionsHandlingView(), "OPTIONS")
    assert not HasRequiredScopes().has_permission(request, OptionsHandlingView())


def test_options_without_a_handler_of_the_view_is_left_to_its_405(user: User) -> None:
    class NoOptionsView(APIView):
        required_scopes = ("users:write",)

        def get(self, request: Request) -> Response:
            return Response()

    assert not answers(NoOptionsView(), "OPTIONS")
    assert not answers(ScopedView(), "OPTIONS")

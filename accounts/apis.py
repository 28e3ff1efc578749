"""Users and groups API: thin views over services and selectors."""

from __future__ import annotations

from django.contrib.auth import update_session_auth_hash
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api_rules import (
    MAX_BATCH_IDS,
    batch_lookup,
    can_see_private,
    conflict_error,
    create_user_as,
    get_user_or_404,
    password_problem,
    render_user,
    update_user_as,
)
from accounts.models import USERNAME_MAX_LENGTH, Group
from accounts.serializers import (
    GroupIn,
    GroupOut,
    MemberIn,
    MemberOut,
    MeOut,
    PasswordChangeIn,
    UserBatchOut,
    UserCreateIn,
    UserPrivateOut,
    UserPublicOut,
    UserUpdateAdminIn,
)
from micro_platform import scopes as sc
from micro_platform.errors import validation_problem
from micro_platform.http import cacheable, client_ip, principal_of
from micro_platform.identity import Principal
from micro_platform.ids import parse_uuid
from micro_platform.openapi import PAGE_PARAMETERS, PAGE_SIZE_PARAMETER, page_of, problem
from micro_platform.pagination import CursorPage, paginated_response
from micro_platform.scope_checks import AnyScope
from micro_platform.sign_in import SignInThrottled, require_personal_sign_in, too_many_attempts

TAKEN = problem("`unique`: the username or email address belongs to another account.")


class MeApi(APIView):
    """The caller's own account, scopes, groups and how they authenticated.

    The private fields of `user` (email, email_verified, is_active, last_login_at) need
    `profile`; a credential holding only `users:read` (a service account's client-credentials
    token, say) gets the public view."""

    # A person's credential holds `profile`, a service account's `users:read`: either one
    # may ask who it is; a credential with neither (only `objects:*`) is refused.
    required_scopes = AnyScope(sc.PROFILE, sc.USERS_READ)

    @extend_schema(responses={200: MeOut, 404: problem("The account no longer exists.")})
    def get(self, request: Request) -> Response:
        principal = principal_of(request)
        user = get_user_or_404(principal.user_id)
        memberships = selectors.memberships_of_user(user=user)
        data = {
            "user": user,
            "scopes": sorted(principal.scopes),
            "groups": list(memberships),
            "auth_method": principal.method,
        }
        return Response(MeOut(data, context={"private": can_see_private(principal, user)}).data)


class UserDetailApi(APIView):
    """One user: public view for `users:read`, private view for self and `users:write`."""

    required_scopes = {
        "GET": (sc.USERS_READ,),
        # Self with `profile`, or `users:write`; the view narrows it to the fields each may change.
        "PATCH": AnyScope(sc.PROFILE, sc.USERS_WRITE),
        "DELETE": (sc.USERS_WRITE,),
    }

    @extend_schema(
        responses={200: UserPrivateOut, 304: None, 404: problem("Unknown or malformed id.")}
    )
    def get(self, request: Request, user_id: str) -> HttpResponseBase:
        user = get_user_or_404(user_id)
        return cacheable(request, render_user(principal_of(request), user))

    @extend_schema(
        request=UserUpdateAdminIn,
        responses={
            200: UserPrivateOut,
            409: TAKEN,
            403: problem(
                "Not the user nor `users:write`; an email change without a recent sign-in"
                " (`recent_sign_in_required`), of another user without `api_admin`"
                " (`insufficient_scope`) or without a recent one-time code"
                " (`fresh_mfa_required`)."
            ),
            404: problem("Unknown or malformed id."),
            429: problem("Too many email changes from this address or account."),
        },
    )
    def patch(self, request: Request, user_id: str) -> Response:
        """Self may change `display_name`, `avatar_url`, `email` (needs `profile`);
        `users:write` may also change `username` and `is_active`. Any other field → 400.
        An email change needs, for one's own account, a password sign-in in the last 15
        minutes (`recent_sign_in_required`) and, for another's, `api_admin` (with a recent
        one-time code when the administrator has MFA: `fresh_mfa_required`); these refusals
        come before the `unique` check, and email changes are throttled (429)."""
        # A docstring, not extend_schema(description=...): that would replace the scope note.
        user = update_user_as(
            principal_of(request), get_user_or_404(user_id), request.data, client_ip(request)
        )
        return Response(UserPrivateOut(user).data)

    @extend_schema(responses={204: None, 404: problem("Unknown or malformed id.")})
    def delete(self, request: Request, user_id: str) -> Response:
        services.user_deactivate(actor=principal_of(request), user=get_user_or_404(user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserListApi(APIView):
    """Batch lookup (`?ids=`), exact `?username=`, or the full list for `users:write`."""

    required_scopes = {"GET": (sc.USERS_READ,), "POST": (sc.USERS_WRITE,)}

    @extend_schema(
        parameters=[
            OpenApiParameter("ids", str, description="Comma-separated user ids (at most 100)."),
            OpenApiParameter("username", str, description="Exact username (case-insensitive)."),
            OpenApiParameter(
                "cursor",
                {"type": "string", "minLength": 1},
                description="Cursor of the unfiltered list.",
            ),
            PAGE_SIZE_PARAMETER,
        ],
        operation_id="users_lookup",
        responses={200: UserBatchOut, 304: None},
    )
    def get(self, request: Request) -> HttpResponseBase:
        principal = principal_of(request)
        # The lookups are not paginated, but malformed page parameters are a 400 on every branch.
        CursorPage().check_parameters(request)
        ids, username = request.query_params.get("ids"), request.query_params.get("username")
        if ids is not None:
            batch = batch_lookup(ids)
            if batch is None:
                raise ValidationError({"ids": [f"At most {MAX_BATCH_IDS} ids."]}, code="too_many")
            # Lookups answer public views whoever asks, matching UserBatchOut.
            return cacheable(request, batch)
        if username is not None:
            if len(username) > USERNAME_MAX_LENGTH:  # never cut short: it could name another
                raise ValidationError(
                    {"username": [f"At most {USERNAME_MAX_LENGTH} characters."]},
                    code="max_length",
                )
            found = selectors.user_get_by_username(username=username)
            results = UserPublicOut([found] if found else [], many=True).data
            return cacheable(request, {"results": results})
        if not principal.has_scope(sc.USERS_WRITE):
            raise PermissionDenied(
                "Listing every user needs `users:write`; look up by `ids` or `username`.",
                code="insufficient_scope",
            )
        return paginated_response(self, request, selectors.users_all(), UserPrivateOut)

    @extend_schema(request=UserCreateIn, responses={201: UserPrivateOut, 409: TAKEN})
    def post(self, request: Request) -> Response:
        user = create_user_as(principal_of(request), request.data)
        return Response(UserPrivateOut(user).data, status=status.HTTP_201_CREATED)


class MePasswordApi(APIView):
    """Changes the caller's password; their other sessions and refresh tokens end.

    `old_password` is checked under the sign-in lockout and per-IP throttle."""

    required_scopes = (sc.PROFILE,)

    @extend_schema(
        request=PasswordChangeIn,
        responses={
            204: None,
            400: problem("Invalid input, or `old_password` is not the current password."),
            403: problem(
                "`sign_in_required`: only a person's own sign-in changes the password, not an"
                " API key or an application's token."
            ),
            429: problem(
                "`too_many_attempts`: the account is locked or this address throttled after"
                " failed password checks (sign-ins included); see `Retry-After`."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        principal = principal_of(request)
        # Who may change it comes before what was sent: a key learns nothing from a 400.
        require_personal_sign_in(actor=principal, action="Changing the password")
        serializer = PasswordChangeIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = get_user_or_404(principal.user_id)
        try:
            services.user_password_change(
                actor=principal,
                user=user,
                ip_address=client_ip(request),
                **serializer.validated_data,
            )
        except DjangoValidationError as exc:
            raise password_problem(exc, "new_password") from exc
        except SignInThrottled as exc:
            raise too_many_attempts(retry_after=exc.retry_after) from exc
        if principal.method == "session":
            # Keep this dashboard session: store the new hash under the Django user (DRF
            # replaced request.user with the principal, which Django would not recognise).
            user.refresh_from_db()
            request._request.user = user
            update_session_auth_hash(request._request, user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupListApi(APIView):
    """All groups for `api_admin`; for anyone else, the groups they belong to."""

    required_scopes = {"GET": (sc.USERS_READ,), "POST": (sc.API_ADMIN,)}

    @extend_schema(parameters=PAGE_PARAMETERS, responses={200: page_of(GroupOut, "GroupPage")})
    def get(self, request: Request) -> Response:
        principal = principal_of(request)
        if principal.is_admin:
            groups = selectors.groups_all()
        else:
            groups = selectors.groups_of_user(user_id=principal.user_id)
        return paginated_response(self, request, groups, GroupOut)

    @extend_schema(
        request=GroupIn,
        responses={201: GroupOut, 409: problem("`unique`: a group with this name exists.")},
    )
    def post(self, request: Request) -> Response:
        serializer = GroupIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            group = services.group_create(actor=principal_of(request), **serializer.validated_data)
        except services.Conflict as exc:
            raise conflict_error(exc) from exc
        except DjangoValidationError as exc:
            raise validation_problem(exc, "scopes") from exc
        return Response(GroupOut(group).data, status=status.HTTP_201_CREATED)


def group_for_manager(principal: Principal, group_id: str) -> Group:
    """The group, if the principal may manage its members: a person's own sign-in holding
    `users:write` (`api_admin` implies it) or an admin of the group.

    Only `api_admin` manages a group that grants `api_admin`, by its scopes or by a role given
    to it: a delegate could otherwise mint new administrators.
    """
    # The services enforce the sign-in rule for every caller; checked here first too, so that a
    # key is refused for what it is before the group is looked up (scope, sign-in, permission).
    require_personal_sign_in(actor=principal, action="Changing a group's members")
    group = selectors.group_get(group_id=group_id)
    if group is None:
        raise NotFound("No group with this id.", code="group_not_found")
    if principal.is_admin:
        return group
    if selectors.group_grants_api_admin(group=group):
        raise PermissionDenied("Only `api_admin` manages the members of an `api_admin` group.")
    if principal.has_scope(sc.USERS_WRITE):
        return group
    if selectors.group_is_admin(group=group, user_id=principal.user_id):
        return group
    raise PermissionDenied("Only `users:write` or the group's admins manage its members.")


MEMBER_REFUSALS = problem(
    "`insufficient_scope`, or `sign_in_required` (members are managed by a person's own"
    " sign-in, not an API key or an application's token), or neither `users:write` nor an"
    " admin of the group."
)


class GroupMemberListApi(APIView):
    """Adds a member to a group, or changes their role: `users:write` or the group's admins,
    signed in themselves."""

    required_scopes = {"POST": (sc.PROFILE,)}

    @extend_schema(
        request=MemberIn,
        responses={
            201: MemberOut,
            403: MEMBER_REFUSALS,
            404: problem("Unknown group or user."),
        },
    )
    def post(self, request: Request, group_id: str) -> Response:
        principal = principal_of(request)
        group = group_for_manager(principal, group_id)
        serializer = MemberIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = get_user_or_404(serializer.validated_data["user_id"])
        membership = services.group_member_add(
            actor=principal, group=group, user=user, role=serializer.validated_data["role"]
        )
        return Response(MemberOut(membership).data, status=status.HTTP_201_CREATED)


class GroupMemberDetailApi(APIView):
    """Removes a member from a group: `users:write` or the group's admins, signed in
    themselves."""

    required_scopes = {"DELETE": (sc.PROFILE,)}

    @extend_schema(
        responses={
            204: None,
            403: MEMBER_REFUSALS,
            404: problem("Unknown group or not a member."),
        }
    )
    def delete(self, request: Request, group_id: str, user_id: str) -> Response:
        principal = principal_of(request)
        group = group_for_manager(principal, group_id)
        parsed = parse_uuid(user_id)
        if parsed is None or not services.group_member_remove(
            actor=principal, group=group, user_id=parsed
        ):
            raise NotFound("This user is not a member of the group.", code="member_not_found")
        return Response(status=status.HTTP_204_NO_CONTENT)

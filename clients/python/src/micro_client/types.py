"""The JSON bodies the API answers with, as TypedDicts named after the components of the
service's OpenAPI schema (clients/openapi.json).

The schema is the source of truth: each class here has exactly its component's properties, the
required ones as required keys and the nullable ones allowing None, and a test compares the two
so that a change to the API that is not made here fails.
"""

from typing import Any, Literal, NotRequired, TypedDict

Kind = Literal["user", "service"]
AuthMethod = Literal["session", "jwt", "oauth2", "api_key"]
MemberRole = Literal["member", "admin"]
Permission = Literal["read", "write", "admin"]
SubjectType = Literal["user", "group"]


class Problem(TypedDict):
    """An RFC 9457 problem: every refusal of the API has this body."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: NotRequired[dict[str, Any]]


class UserPublicOut(TypedDict):
    id: str
    username: str
    display_name: str
    avatar_url: str
    kind: Kind
    created_at: str


class UserPrivateOut(TypedDict):
    id: str
    username: str
    display_name: str
    avatar_url: str
    kind: Kind
    created_at: str
    email: str
    email_verified: bool
    is_active: bool
    last_login_at: str | None


class UserBatchOut(TypedDict):
    results: list[UserPublicOut]


class MeUserOut(TypedDict):
    id: str
    username: str
    display_name: str
    avatar_url: str
    kind: Kind
    created_at: str
    email: NotRequired[str]
    email_verified: NotRequired[bool]
    is_active: NotRequired[bool]
    last_login_at: NotRequired[str | None]


class MembershipOut(TypedDict):
    id: str
    name: str
    role: MemberRole


class MeOut(TypedDict):
    user: MeUserOut
    scopes: list[str]
    groups: list[MembershipOut]
    auth_method: AuthMethod


class GroupOut(TypedDict):
    id: str
    name: str
    scopes: list[str]
    created_at: str


class MemberOut(TypedDict):
    group_id: str
    user_id: str
    role: str
    created_at: str


class RoleOut(TypedDict):
    id: str
    name: str
    description: str
    scopes: list[str]
    created_at: str
    updated_at: str


class ApiKeyOut(TypedDict):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: str
    expires_at: str
    last_used_at: str | None
    revoked_at: str | None
    resource: str | None


class MintedKeyOut(TypedDict):
    """A new API key: `key` is its secret, shown only in this answer."""

    id: str
    name: str
    prefix: str
    key: str
    scopes: list[str]
    created_at: str
    expires_at: str
    resource: str | None


class ExchangedTokenOut(TypedDict):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


class TokenPairOut(TypedDict):
    access_token: str
    refresh_token: str
    token_type: NotRequired[str]
    expires_in: int
    scope: str


class GrantOut(TypedDict):
    id: str
    object_type: str
    object_id: str
    subject_type: str
    subject_id: str
    read: bool
    write: bool
    admin: bool
    granted_by: str | None
    created_at: str
    updated_at: str


class CheckOut(TypedDict):
    allowed: bool


class ObjectOut(TypedDict):
    id: str
    name: str
    value: Any | None  # any JSON value
    owner_id: str
    version: int
    created_at: str
    updated_at: str


class AuditEventOut(TypedDict):
    id: str
    type: str
    actor_id: str | None
    subject_type: str
    subject_id: str
    ip_address: str | None
    created_at: str
    data: dict[str, Any]


# The schema's cursor pages (ApiKeyPage, GrantPageOut, GroupPage, ...) all have this shape; the
# client follows `next` itself and hands out the rows.
class Page(TypedDict):
    results: list[Any]
    next: str | None

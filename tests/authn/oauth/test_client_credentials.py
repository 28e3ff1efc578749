"""Service accounts with OAuth 2.0 clients: client credentials."""

from __future__ import annotations

import uuid
from dataclasses import replace
from io import StringIO
from typing import Any
from unittest.mock import patch

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection
from oauth2_provider.models import AccessToken, Application
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from audit.services import AuditEntry
from tests.authn.oauth_helpers import claims, create_account, make_client, token
from tests.conftest import queries_everywhere
from tests.factories import GroupFactory, MembershipFactory, ServiceAccountFactory, UserFactory


@pytest.fixture
def account(db: Any) -> dict[str, Any]:
    return create_account("billing", "--scope", "users:read", "objects:read", "--oauth-client")


def test_the_command_prints_the_client_id_and_secret_once(account: dict[str, Any]) -> None:
    assert set(account) == {"id", "username", "scopes", "client_id", "client_secret"}
    application = Application.objects.get(client_id=account["client_id"])
    assert application.authorization_grant_type == Application.GRANT_CLIENT_CREDENTIALS
    assert application.client_type == Application.CLIENT_CONFIDENTIAL
    assert str(application.user_id) == account["id"]
    # Stored only as a hash.
    assert account["client_secret"] not in application.client_secret
    assert application.client_secret.startswith("micro_secret_sha256$")
    assert application.client_secret.count("$") == 2
    assert AuditEvent.objects.filter(type="oauth_client.created").exists()


def test_without_json_the_secret_is_still_shown_with_a_warning(db: Any) -> None:
    out = StringIO()
    call_command(
        "createserviceaccount", "svc", "--scope", "users:read", "--oauth-client", stdout=out
    )
    text = out.getvalue()
    assert "client_id: " in text and "client_secret: " in text
    assert "shown only now" in text


def test_client_credentials_tokens_act_as_the_service_account(account: dict[str, Any]) -> None:
    response = token(account["client_id"], account["client_secret"])

    assert response.status_code == 200, response.content
    body = response.json()
    assert "refresh_token" not in body
    assert set(body["scope"].split()) == {"users:read", "objects:read"}
    access = claims(body["access_token"])
    assert access["sub"] == account["id"]
    assert access["kind"] == "service"
    assert access["client_id"] == account["client_id"]
    assert access["amr"] == []

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    me = api.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["user"]["kind"] == "service"
    assert me.json()["auth_method"] == "oauth2"


def test_secret_in_the_body_works_too(account: dict[str, Any]) -> None:
    assert token(account["client_id"], account["client_secret"], basic=False).status_code == 200


def test_a_subset_of_the_scopes_can_be_asked_for(account: dict[str, Any]) -> None:
    body = token(account["client_id"], account["client_secret"], "users:read").json()
    assert body["scope"] == "users:read"
    assert claims(body["access_token"])["scope"] == "users:read"


@pytest.mark.parametrize("scope", ["api_admin", "users:write", "users:read users:write", "nope"])
def test_a_scope_the_account_does_not_hold_is_refused(account: dict[str, Any], scope: str) -> None:
    response = token(account["client_id"], account["client_secret"], scope)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_a_wrong_secret_is_refused(account: dict[str, Any]) -> None:
    response = token(account["client_id"], "not-the-secret")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_deactivated_account_gets_no_tokens(account: dict[str, Any]) -> None:
    User.objects.filter(pk=account["id"]).update(is_active=False)

    response = token(account["client_id"], account["client_secret"])

    assert response.status_code in (400, 401)
    assert "access_token" not in response.json()


def test_a_client_owned_by_a_person_cannot_use_client_credentials(db: Any) -> None:
    person = UserFactory.create()
    client = make_client(owner=person, grant_type=Application.GRANT_CLIENT_CREDENTIALS)

    response = token(client.client_id, client.client_secret)

    assert response.status_code in (400, 401)
    assert response.json()["error"] == "unauthorized_client"


def test_a_removed_scope_is_gone_from_the_next_token(account: dict[str, Any]) -> None:
    User.objects.filter(pk=account["id"]).update(scopes=["users:read"])

    body = token(account["client_id"], account["client_secret"]).json()

    assert body["scope"] == "users:read"


def test_a_service_account_without_a_client_cannot_mint_through_another(db: Any) -> None:
    """Client credentials never act for an account other than the client's owner."""
    other = ServiceAccountFactory.create(scopes=["api_admin"])
    mine = create_account("mine", "--scope", "users:read", "--oauth-client")

    body = token(mine["client_id"], mine["client_secret"]).json()

    assert claims(body["access_token"])["sub"] == mine["id"] != str(other.pk)


def test_the_client_secret_hasher_is_salted_and_checks_exactly() -> None:
    from django.contrib.auth.hashers import check_password, make_password

    from authn.oauth.hashers import ClientSecretHasher

    hasher = ClientSecretHasher()
    first, second = hasher.encode("s3cret", hasher.salt()), hasher.encode("s3cret", hasher.salt())

    assert first != second  # salted
    assert hasher.verify("s3cret", first) and hasher.verify("s3cret", second)
    assert not hasher.verify("s3cret!", first)
    assert check_password("s3cret", first)
    assert "s3cret" not in str(hasher.safe_summary(first))
    # Passwords never use it: the first configured hasher does.
    assert not make_password("a password").startswith(hasher.algorithm)


def test_a_client_credentials_token_costs_three_statements_on_postgresql_and_four_elsewhere(
    account: dict[str, Any],
) -> None:
    """The client with its owner and the owner's groups (one read), the roles of its scopes,
    and the stored token row with its audit event: one statement on PostgreSQL, which then
    needs no transaction of its own (no BEGIN and COMMIT: no savepoint inside the test's
    transaction), two elsewhere; the row is not read back."""
    owner = User.objects.get(pk=account["id"])
    MembershipFactory.create(user=owner, group=GroupFactory.create(scopes=["objects:write"]))
    MembershipFactory.create(user=owner)
    assert token(account["client_id"], account["client_secret"]).status_code == 200  # warm
    with queries_everywhere() as found:  # the roles may live in the grants database
        response = token(account["client_id"], account["client_secret"])
    assert response.status_code == 200, response.content
    sql = [query for query in found if not query.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    on_postgresql = connection.vendor == "postgresql"
    assert len(sql) == (3 if on_postgresql else 4), sql
    if on_postgresql:
        assert sql == found, found  # no transaction of its own
    # The scopes of the owner's group came from that one read.
    assert "objects:write" in claims(response.json()["access_token"])["scope"].split()


def test_the_stored_token_row_and_its_audit_event_are_written_together(
    account: dict[str, Any],
) -> None:
    response = token(account["client_id"], account["client_secret"], "users:read")
    assert response.status_code == 200, response.content

    stored = AccessToken.objects.get(application__client_id=account["client_id"])
    assert stored.pk is not None and stored.user_id is None and stored.scope == "users:read"
    assert stored.token_checksum and stored.expires > stored.created
    event = AuditEvent.objects.get(type="token.issued")
    assert (event.actor_id, event.subject_type, event.subject_id) == (
        uuid.UUID(account["id"]),
        "oauth_client",
        account["client_id"],
    )
    assert event.data == {"grant_type": "client_credentials", "scope": "users:read"}


def test_when_the_audit_event_cannot_be_stored_no_token_row_is_kept(
    transactional_db: Any, account: dict[str, Any]
) -> None:
    """Both rows or neither, with or without a transaction around them (on PostgreSQL the
    one statement that writes them is atomic by itself)."""
    from authn.oauth import validators

    real = validators._issue_event

    def too_long(request: Any, *, scope: str) -> AuditEntry:
        # A subject type longer than its column: PostgreSQL refuses the row.
        return replace(real(request, scope=scope), subject_type="x" * 40)

    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not enforce the length of a column")
    with patch.object(validators, "_issue_event", too_long), pytest.raises(DatabaseError):
        token(account["client_id"], account["client_secret"])
    assert not AccessToken.objects.exists()
    assert token(account["client_id"], account["client_secret"]).status_code == 200
    assert AccessToken.objects.count() == AuditEvent.objects.filter(type="token.issued").count()


def test_a_client_credentials_token_still_tells_app_authorized_receivers(
    account: dict[str, Any],
) -> None:
    from oauth2_provider.signals import app_authorized

    told: list[Any] = []

    def receiver(sender: Any, request: Any, token: Any, **kwargs: Any) -> None:
        told.append(token)

    app_authorized.connect(receiver)
    try:
        response = token(account["client_id"], account["client_secret"])
    finally:
        app_authorized.disconnect(receiver)
    assert response.status_code == 200
    assert [stored.application.client_id for stored in told] == [account["client_id"]]


def _statements_compiled_for(model: type[Any]) -> Any:
    """Patches Django's SELECT compiler to count the statements it compiles for `model`."""
    from django.db.models.sql.compiler import SQLCompiler

    compiled: list[str | None] = []
    original = SQLCompiler.as_sql

    def as_sql(self: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
        if self.query.model is model:
            compiled.append(self.using)
        return original(self, *args, **kwargs)

    return compiled, patch.object(SQLCompiler, "as_sql", as_sql)


def test_the_client_read_is_compiled_once_not_per_token(account: dict[str, Any]) -> None:
    assert token(account["client_id"], account["client_secret"]).status_code == 200  # warm
    compiled, patched = _statements_compiled_for(Application)
    with patched:
        first = token(account["client_id"], account["client_secret"])
        second = token(account["client_id"], account["client_secret"], "users:read")
    assert first.status_code == second.status_code == 200, second.content
    assert compiled == []
    assert claims(second.json()["access_token"])["sub"] == account["id"]


def test_the_compiled_client_read_still_sees_the_owner_and_their_groups(
    account: dict[str, Any],
) -> None:
    """Each token reads the client, its owner and the owner's groups afresh: a deactivated
    owner or a group it left is seen by the next token."""
    owner = User.objects.get(pk=account["id"])
    membership = MembershipFactory.create(
        user=owner, group=GroupFactory.create(scopes=["objects:write"])
    )
    body = token(account["client_id"], account["client_secret"]).json()
    assert "objects:write" in body["scope"].split()

    membership.delete()
    body = token(account["client_id"], account["client_secret"]).json()
    assert "objects:write" not in body["scope"].split()

    User.objects.filter(pk=owner.pk).update(is_active=False)
    assert token(account["client_id"], account["client_secret"]).status_code in (400, 401)


def test_a_client_id_with_a_nul_is_an_unknown_client(account: dict[str, Any]) -> None:
    response = token("bad\x00id", account["client_secret"])

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_the_role_read_is_compiled_once_per_number_of_groups(account: dict[str, Any]) -> None:
    from permissions.models import RoleAssignment

    owner = User.objects.get(pk=account["id"])
    MembershipFactory.create(user=owner)
    assert token(account["client_id"], account["client_secret"]).status_code == 200  # warm
    compiled, patched = _statements_compiled_for(RoleAssignment)
    with patched:
        assert token(account["client_id"], account["client_secret"]).status_code == 200
    assert compiled == []


def test_roles_given_between_tokens_to_the_owner_or_its_group_are_carried(
    account: dict[str, Any],
) -> None:
    from permissions.models import Role, RoleAssignment

    owner = User.objects.get(pk=account["id"])
    group = GroupFactory.create()
    MembershipFactory.create(user=owner, group=group)
    assert "objects:write" not in token(account["client_id"], account["client_secret"]).json()[
        "scope"
    ].split(" ")

    role = Role.objects.create(name="writer", scopes=["objects:write"])
    RoleAssignment.objects.create(role=role, subject_type="group", subject_id=group.pk)
    body = token(account["client_id"], account["client_secret"]).json()
    assert "objects:write" in body["scope"].split()

    RoleAssignment.objects.filter(role=role).update(subject_type="user", subject_id=owner.pk)
    MembershipFactory.create(user=owner)  # another number of groups: another statement
    body = token(account["client_id"], account["client_secret"]).json()
    assert "objects:write" in body["scope"].split()

    role.delete()
    body = token(account["client_id"], account["client_secret"]).json()
    assert "objects:write" not in body["scope"].split()

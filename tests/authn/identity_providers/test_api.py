"""Identity providers API: api_admin lists, adds, reads, changes and deletes providers; the
client secret goes in and never comes out."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEvent
from authn.models import ExternalIdentity, IdentityProvider
from tests.authn.identity_providers.helpers import ISSUER, SECRET, link, provider_create
from tests.factories import GroupFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")
PROBLEM = "application/problem+json"
URL = "/api/v1/identity-providers"


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    return response.json()


def body(**fields) -> dict:
    return {"slug": "acme", "issuer": ISSUER, "client_id": "micro", **fields}


def add(admin_client, **fields) -> dict:
    response = admin_client.post(URL, body(**fields), format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --- Who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", URL),
        ("post", URL),
        ("get", f"{URL}/acme"),
        ("patch", f"{URL}/acme"),
        ("delete", f"{URL}/acme"),
    ],
)
def test_anonymous_callers_are_refused_with_401(anon_client, method, path):
    provider_create()

    response = getattr(anon_client, method)(path, {}, format="json")

    assert problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", URL),
        ("post", URL),
        ("get", f"{URL}/acme"),
        ("patch", f"{URL}/acme"),
        ("delete", f"{URL}/acme"),
    ],
)
def test_a_user_without_api_admin_is_refused_with_403(user_client, method, path):
    provider_create()

    response = getattr(user_client, method)(path, body(), format="json")

    assert problem(response, 403)
    assert IdentityProvider.objects.get().client_id == "acme-client"


# --- Adding --------------------------------------------------------------------------------------


def test_api_admin_adds_a_provider_with_the_defaults(admin_client, admin_user, settings):
    created = add(admin_client, client_secret=SECRET)

    assert set(created) == {
        "id",
        "slug",
        "display_name",
        "issuer",
        "client_id",
        "has_client_secret",
        "scopes",
        "enabled",
        "create_accounts",
        "allowed_email_domains",
        "link_by_verified_email",
        "enforces_mfa",
        "use_userinfo",
        "claim_mapping",
        "group_mapping",
        "redirect_uri",
        "identities",
        "created_at",
        "updated_at",
    }
    assert created["display_name"] == "acme"
    assert created["scopes"] == ["openid", "email", "profile"]
    assert (created["enabled"], created["create_accounts"], created["link_by_verified_email"]) == (
        True,
        False,
        False,
    )
    assert created["has_client_secret"] is True
    assert created["identities"] == 0
    assert created["redirect_uri"] == (
        f"{settings.MICRO_ISSUER}/accounts/federation/acme/callback/"
    )
    event = AuditEvent.objects.get(type="identity_provider.created")
    assert event.actor_id == admin_user.pk
    assert event.data["slug"] == "acme"
    assert event.data["via"] == "api"
    assert "client_secret" in event.data["fields"]


def test_the_secret_is_stored_encrypted_and_opens_with_client_secret(admin_client):
    add(admin_client, client_secret=SECRET)

    provider = IdentityProvider.objects.get()
    assert SECRET not in provider.client_secret_encrypted
    assert provider.client_secret() == SECRET


def test_the_secret_is_never_in_an_answer_or_an_event(admin_client):
    created = add(admin_client, client_secret=SECRET)
    answers = [
        created,
        admin_client.get(URL).json(),
        admin_client.get(f"{URL}/acme").json(),
        admin_client.patch(f"{URL}/acme", {"client_secret": SECRET + "2"}, format="json").json(),
    ]

    for answer in answers:
        assert SECRET not in json.dumps(answer)
        assert "client_secret" not in json.dumps(answer).replace("has_client_secret", "")
    for event in AuditEvent.objects.all():
        assert SECRET not in json.dumps(event.data)


def test_a_provider_without_a_secret_is_a_public_client(admin_client):
    created = add(admin_client)

    assert created["has_client_secret"] is False
    assert IdentityProvider.objects.get().client_secret() == ""


def test_every_field_is_stored_as_given_and_normalised(admin_client):
    editors = GroupFactory.create(name="Editors")

    created = add(
        admin_client,
        display_name="Acme SSO",
        issuer="https://login.example.com/realms/acme/",
        scopes=["openid", "groups", "openid"],
        enabled=False,
        create_accounts=True,
        allowed_email_domains=["Example.COM", "example.org"],
        link_by_verified_email=True,
        enforces_mfa=True,
        use_userinfo=True,
        claim_mapping={"username": "preferred_username", "groups": "https://acme/groups"},
        group_mapping={"acme-editors": "editors"},
    )

    # Kept as given: the issuer is compared character by character with the provider's `iss`.
    assert created["issuer"] == "https://login.example.com/realms/acme/"
    assert created["scopes"] == ["openid", "groups"]
    assert created["allowed_email_domains"] == ["example.com", "example.org"]
    assert created["group_mapping"] == {"acme-editors": editors.name}
    assert created["claim_mapping"] == {
        "username": "preferred_username",
        "groups": "https://acme/groups",
    }
    assert (created["enabled"], created["create_accounts"], created["enforces_mfa"]) == (
        False,
        True,
        True,
    )


@pytest.mark.parametrize(
    "issuer",
    [
        "http://127.0.0.1:9000",
        "http://localhost:9000/oidc",
        "http://[::1]:9000",
        "https://keycloak.internal:8443/realms/x",
    ],
)
def test_https_and_loopback_http_issuers_are_accepted(admin_client, issuer):
    assert add(admin_client, issuer=issuer)["issuer"] == issuer


@pytest.mark.parametrize(
    "issuer",
    [
        "http://login.example.com",
        "http://127.0.0.2",
        "ftp://login.example.com",
        "https://login.example.com/?tenant=1",
        "https://login.example.com/#x",
        "https://user@login.example.com",
        "https://login.example.com:99999",
        "login.example.com",
        "",
    ],
)
def test_other_issuers_are_a_400_on_the_field(admin_client, issuer):
    response = admin_client.post(URL, body(issuer=issuer), format="json")

    assert "issuer" in problem(response, 400)["errors"]
    assert not IdentityProvider.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slug", "Acme"),
        ("slug", "-acme"),
        ("slug", "a" * 51),
        ("client_id", " "),
        ("scopes", ["email", "profile"]),
        ("scopes", []),
        ("scopes", ["openid", "two words"]),
        ("allowed_email_domains", ["not a domain"]),
        ("allowed_email_domains", ["example"]),
        ("claim_mapping", {"password": "pw"}),
        ("claim_mapping", {"email": "with space"}),
        ("display_name", "line\nbreak"),
        ("enabled", "maybe"),
        ("group_mapping", {"a": "x\x00"}),
    ],
)
def test_invalid_values_are_a_400_naming_the_field(admin_client, field, value):
    response = admin_client.post(URL, body(**{field: value}), format="json")

    assert field in problem(response, 400)["errors"]
    assert not IdentityProvider.objects.exists()


def test_unknown_fields_are_a_400(admin_client):
    response = admin_client.post(URL, body(client_secret_encrypted="x"), format="json")

    assert "client_secret_encrypted" in problem(response, 400)["errors"]


def test_a_group_mapping_to_an_unknown_local_group_is_refused(admin_client):
    GroupFactory.create(name="editors")

    response = admin_client.post(
        URL, body(group_mapping={"a": "editors", "b": "nobody"}), format="json"
    )

    answer = problem(response, 404)
    assert answer["code"] == "group_not_found"
    assert "nobody" in answer["errors"]["group_mapping"][0]
    assert not IdentityProvider.objects.exists()


def test_a_taken_slug_is_a_409_unique(admin_client):
    provider_create("acme")

    answer = problem(admin_client.post(URL, body(), format="json"), 409)

    assert answer["code"] == "unique"
    assert "slug" in answer["errors"]


# --- Reading -------------------------------------------------------------------------------------


def test_the_list_is_paginated_with_the_link_counts(admin_client):
    acme = provider_create("acme")
    provider_create("beta")
    link(UserFactory.create(), acme)

    page = admin_client.get(URL, {"page_size": 1}).json()
    rest = admin_client.get(page["next"]).json()

    assert [row["slug"] for row in page["results"] + rest["results"]] == ["acme", "beta"]
    assert page["results"][0]["identities"] == 1
    assert rest["next"] is None


def test_an_unknown_slug_is_a_404(admin_client):
    answer = problem(admin_client.get(f"{URL}/nobody"), 404)

    assert answer["code"] == "identity_provider_not_found"


# --- Changing ------------------------------------------------------------------------------------


def test_patch_replaces_the_secret_and_audits_the_field_names(admin_client):
    add(admin_client, client_secret=SECRET)

    response = admin_client.patch(
        f"{URL}/acme", {"client_secret": "new-secret", "enabled": False}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is False
    assert IdentityProvider.objects.get().client_secret() == "new-secret"
    event = AuditEvent.objects.get(type="identity_provider.updated")
    assert event.data == {"slug": "acme", "fields": ["client_secret", "enabled"], "via": "api"}


def test_patch_with_an_empty_secret_makes_a_public_client(admin_client):
    add(admin_client, client_secret=SECRET)

    answer = admin_client.patch(f"{URL}/acme", {"client_secret": ""}, format="json").json()

    assert answer["has_client_secret"] is False
    assert IdentityProvider.objects.get().client_secret() == ""


def test_patch_without_a_change_records_no_event(admin_client):
    add(admin_client)

    response = admin_client.patch(f"{URL}/acme", {"enabled": True}, format="json")

    assert response.status_code == 200
    assert not AuditEvent.objects.filter(type="identity_provider.updated").exists()


def test_patch_validates_like_post(admin_client):
    add(admin_client)

    response = admin_client.patch(f"{URL}/acme", {"scopes": ["email"]}, format="json")

    assert "scopes" in problem(response, 400)["errors"]
    assert IdentityProvider.objects.get().scopes == ["openid", "email", "profile"]


def test_the_slug_never_changes(admin_client):
    add(admin_client)

    response = admin_client.patch(f"{URL}/acme", {"slug": "other"}, format="json")

    assert "slug" in problem(response, 400)["errors"]
    assert IdentityProvider.objects.get().slug == "acme"


# --- Deleting ------------------------------------------------------------------------------------


def test_delete_removes_the_links_and_audits_how_many(admin_client, admin_user):
    acme = provider_create("acme")
    other = provider_create("beta")
    link(UserFactory.create(), acme, "a")
    link(UserFactory.create(), acme, "b")
    kept = link(UserFactory.create(), other, "c")

    response = admin_client.delete(f"{URL}/acme")

    assert response.status_code == 204
    assert list(ExternalIdentity.objects.all()) == [kept]
    assert list(IdentityProvider.objects.all()) == [other]
    event = AuditEvent.objects.get(type="identity_provider.deleted")
    assert event.data == {"slug": "acme", "identities": 2, "via": "api"}
    assert event.actor_id == admin_user.pk

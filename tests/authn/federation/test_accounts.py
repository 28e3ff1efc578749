"""Who a federated sign-in is here: links, verified-email linking, pending links, new
accounts, allowed domains, group mapping, and the "link another sign-in" path."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from accounts.models import Membership, User
from audit.models import AuditEvent
from authn.models import ExternalIdentity, IdentityProvider
from authn.sessions.proof import AUTH_TIME_KEY
from authn.web.federation_views import PENDING_LINK_KEY
from tests.authn.federation.conftest import sign_in
from tests.authn.federation.fake_provider import FakeProvider
from tests.factories import DEFAULT_PASSWORD, GroupFactory, UserFactory

pytestmark = pytest.mark.django_db

LINK_URL = "/accounts/federation/link/"


def _refusals(reason: str) -> int:
    return AuditEvent.objects.filter(type="federation.refused", data__reason=reason).count()


def _signed_in_as(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def _password_sign_in(client: Client, user: User, next_url: str = "") -> Any:
    data = {"username": user.username, "password": DEFAULT_PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post("/accounts/login/", data)


def test_existing_email_is_linked_only_when_provider_allows_and_email_verified(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    existing = UserFactory.create(email="ada@example.com", email_verified=True)
    IdentityProvider.objects.filter(pk=idp.pk).update(link_by_verified_email=True)
    response = sign_in(client, upstream)
    assert response.status_code == 302
    assert _signed_in_as(client) == str(existing.pk)
    link = AuditEvent.objects.get(type="external_identity.linked")
    assert link.data == {"idp": "acme", "subject": "upstream-1", "via": "email"}
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("link_by_email", "verified"), [(False, True), (True, False)], ids=["option-off", "unverified"]
)
def test_existing_email_without_both_conditions_waits_for_a_sign_in(
    client: Client,
    upstream: FakeProvider,
    idp: IdentityProvider,
    link_by_email: bool,
    verified: bool,
) -> None:
    UserFactory.create(email="ada@example.com")
    IdentityProvider.objects.filter(pk=idp.pk).update(link_by_verified_email=link_by_email)
    upstream.claims["email_verified"] = verified
    response = sign_in(client, upstream)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={LINK_URL}"
    assert _signed_in_as(client) is None
    assert not ExternalIdentity.objects.exists()
    assert User.objects.count() == 1  # no account created for the same email
    page = client.get(response["Location"])
    assert b"Sign in to your account first" in page.content


def test_existing_account_with_an_unverified_email_is_never_linked_by_email(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    # Whoever registered this account may not own the address: the upstream's verified
    # email must not hand its owner's sign-in to that account (account pre-hijacking).
    squatter = UserFactory.create(email="Ada@Example.com", email_verified=False)
    IdentityProvider.objects.filter(pk=idp.pk).update(link_by_verified_email=True)
    response = sign_in(client, upstream)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={LINK_URL}"
    assert _signed_in_as(client) is None
    assert not ExternalIdentity.objects.filter(user=squatter).exists()
    assert not AuditEvent.objects.filter(type="external_identity.linked").exists()


def test_pending_link_is_confirmed_after_a_password_sign_in(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    existing = UserFactory.create(email="ada@example.com")
    sign_in(client, upstream)
    # Not signed in yet: the link page sends the person to sign in.
    assert client.get(LINK_URL)["Location"] == f"/accounts/login/?next={LINK_URL}"
    response = _password_sign_in(client, existing, LINK_URL)
    assert response["Location"] == LINK_URL
    page = client.get(LINK_URL)
    assert page.status_code == 200 and b"Acme ID" in page.content
    assert not ExternalIdentity.objects.exists()  # a GET links nothing
    response = client.post(LINK_URL)
    assert response.status_code == 302
    identity = ExternalIdentity.objects.get()
    assert identity.user == existing and identity.subject == "upstream-1"
    event = AuditEvent.objects.get(type="external_identity.linked")
    assert event.data["via"] == "link"
    assert PENDING_LINK_KEY not in client.session
    # The next federated sign-in uses the link.
    client.post("/accounts/logout/")
    sign_in(client, upstream)
    assert _signed_in_as(client) == str(existing.pk)


def test_pending_link_is_refused_for_another_account(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    UserFactory.create(email="ada@example.com")
    other = UserFactory.create(email="mallory@example.com")
    sign_in(client, upstream)
    _password_sign_in(client, other, LINK_URL)
    response = client.post(LINK_URL)
    assert response.status_code == 400
    assert not ExternalIdentity.objects.exists()


def test_pending_link_is_not_confirmed_by_a_federated_sign_in_whose_upstream_says_pwd(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    # The upstream's `pwd` is its own password, not this account's: the pending link still
    # needs the password sign-in here that its page promises.
    existing = UserFactory.create(email="ada@example.com")
    ExternalIdentity.objects.create(provider=idp, subject="ada-at-acme", user=existing)
    other = IdentityProvider(
        slug="beta", display_name="Beta", issuer=idp.issuer, client_id=idp.client_id
    )
    other.set_client_secret(idp.client_secret())
    other.save()
    sign_in(client, upstream, "beta")  # upstream-1, ada's email: pending
    upstream.subject = "ada-at-acme"
    upstream.claims["amr"] = ["pwd"]
    sign_in(client, upstream)
    assert _signed_in_as(client) == str(existing.pk)
    page = client.get(LINK_URL)
    assert page.status_code == 302
    assert page["Location"] == f"/accounts/login/?next={LINK_URL}"
    client.post(LINK_URL)
    assert not ExternalIdentity.objects.filter(provider=other).exists()


def test_pending_link_needs_a_password_sign_in_after_it(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    existing = UserFactory.create(email="ada@example.com")
    _password_sign_in(client, existing)
    other = Client()
    sign_in(other, upstream)
    # A session signed in before the pending link was made does not confirm it.
    session = client.session
    session[PENDING_LINK_KEY] = other.session[PENDING_LINK_KEY]
    session["micro_federation_link_at"] = other.session["micro_federation_link_at"] + 5
    session.save()
    assert client.post(LINK_URL).status_code == 302
    assert not ExternalIdentity.objects.exists()


def test_link_page_without_pending_link_is_a_400(client: Client, db: None) -> None:
    assert client.get(LINK_URL).status_code == 400


def test_unknown_person_without_just_in_time_accounts_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    IdentityProvider.objects.filter(pk=idp.pk).update(create_accounts=False)
    response = sign_in(client, upstream)
    assert response.status_code == 400
    assert b"Ask an administrator" in response.content
    assert _refusals("not_linked") == 1
    assert not User.objects.exists()


def test_inactive_linked_user_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    sign_in(client, upstream)
    client.post("/accounts/logout/")
    User.objects.update(is_active=False)
    response = sign_in(client, upstream)
    assert response.status_code == 400
    assert _refusals("inactive") == 1
    assert _signed_in_as(client) is None


@pytest.mark.parametrize("email", ["ada@evil.example", "", "ada@example.com.evil"])
def test_email_outside_allowed_domains_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, email: str
) -> None:
    IdentityProvider.objects.filter(pk=idp.pk).update(allowed_email_domains=["example.com"])
    upstream.claims["email"] = email
    response = sign_in(client, upstream)
    assert response.status_code == 400
    assert _refusals("email_domain") == 1
    assert not User.objects.exists()


def test_allowed_domains_also_restrict_linked_accounts(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    sign_in(client, upstream)
    client.post("/accounts/logout/")
    IdentityProvider.objects.filter(pk=idp.pk).update(allowed_email_domains=["corp.example"])
    assert sign_in(client, upstream).status_code == 400
    assert _signed_in_as(client) is None


def test_username_is_made_unique_and_groups_are_mapped(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    UserFactory.create(username="ada", email="someone@example.com")
    staff = GroupFactory.create(name="staff")
    IdentityProvider.objects.filter(pk=idp.pk).update(
        group_mapping={"acme-staff": "staff", "acme-other": "missing"},
        claim_mapping={"username": "nickname"},
    )
    upstream.claims.update(nickname="ada", groups=["acme-staff", "acme-other", "unmapped"])
    sign_in(client, upstream)
    user = User.objects.get(email="ada@example.com")
    assert user.username.startswith("ada-")
    assert list(Membership.objects.filter(user=user).values_list("group", flat=True)) == [staff.pk]


def test_signed_in_user_links_another_sign_in(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    me = UserFactory.create(email="me@example.com")
    _password_sign_in(client, me)
    upstream.claims["email"] = "someone-else@example.com"
    response = sign_in(client, upstream)
    # Back from the provider, the link waits for the person's confirmation.
    assert (response.status_code, response["Location"]) == (302, LINK_URL)
    assert not ExternalIdentity.objects.exists()
    page = client.get(LINK_URL)
    assert page.status_code == 200
    assert b"someone-else@example.com" in page.content
    assert not ExternalIdentity.objects.exists()

    confirmed = client.post(LINK_URL)

    assert confirmed.status_code == 302
    identity = ExternalIdentity.objects.get()
    assert identity.user == me
    assert AuditEvent.objects.get(type="external_identity.linked").data["via"] == "self"
    assert User.objects.count() == 1
    assert _signed_in_as(client) == str(me.pk)


def test_linking_another_sign_in_is_never_done_by_the_callback_alone(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    # Another site sends a signed-in person's browser through the start page while the
    # provider's session is the attacker's: without the person's POST nothing is linked.
    me = UserFactory.create(email="me@example.com")
    _password_sign_in(client, me)
    upstream.claims.update(sub="attacker", email="attacker@example.com")
    sign_in(client, upstream)

    assert not ExternalIdentity.objects.exists()
    assert not AuditEvent.objects.filter(type="external_identity.linked").exists()
    csrf_checked = Client(enforce_csrf_checks=True)
    csrf_checked.cookies = client.cookies
    assert csrf_checked.post(LINK_URL).status_code == 403
    assert not ExternalIdentity.objects.exists()


def test_confirming_another_sign_in_needs_a_recent_sign_in_still(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    me = UserFactory.create(email="me@example.com")
    _password_sign_in(client, me)
    sign_in(client, upstream)
    session = client.session
    session[AUTH_TIME_KEY] = int(time.time()) - 16 * 60
    session.save()

    response = client.post(LINK_URL)

    assert response.status_code == 400
    assert _refusals("recent_sign_in_required") == 1
    assert not ExternalIdentity.objects.exists()


def test_a_pending_link_of_another_sign_in_is_not_confirmed_by_another_user(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    me = UserFactory.create(email="me@example.com")
    _password_sign_in(client, me)
    upstream.claims["email"] = "someone-else@example.com"
    sign_in(client, upstream)
    other = UserFactory.create(email="other@example.com")
    _password_sign_in(client, other)

    client.post(LINK_URL)

    assert not ExternalIdentity.objects.exists()


def test_upstream_account_linked_to_someone_else_is_not_relinked(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    sign_in(client, upstream)  # creates ada, linked
    client.post("/accounts/logout/")
    me = UserFactory.create(email="me@example.com")
    _password_sign_in(client, me)
    response = sign_in(client, upstream)
    assert response.status_code == 400
    assert _refusals("already_linked") == 1
    assert ExternalIdentity.objects.get().user.email == "ada@example.com"


@pytest.mark.parametrize(
    ("claimed", "expected"), [("Zoë@corp", "Zocorp"), ("@@@", "ada"), ("a b/c", "abc")]
)
def test_username_from_upstream_keeps_to_the_local_rules(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, claimed: str, expected: str
) -> None:
    upstream.claims["preferred_username"] = claimed
    sign_in(client, upstream)
    user = User.objects.get()
    assert user.username == expected
    user.full_clean()


def test_invalid_upstream_email_is_not_stored(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    upstream.claims.update(email="not an email", preferred_username="ada")
    sign_in(client, upstream)
    user = User.objects.get()
    assert user.email == "" and not user.email_verified


def test_overlong_subject_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    upstream.subject = "s" * 256
    response = sign_in(client, upstream)
    assert response.status_code == 400
    assert _refusals("invalid_id_token") == 1
    assert not User.objects.exists()


def test_signed_in_user_revisiting_their_own_link_is_fine(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    me = UserFactory.create(email="me@example.com")
    _password_sign_in(client, me)
    sign_in(client, upstream)
    client.post(LINK_URL)
    again = sign_in(client, upstream)
    assert (again.status_code, again["Location"]) == (302, "/dashboard/")
    assert ExternalIdentity.objects.get().user == me
    assert _refusals("already_linked") == 0


def test_userinfo_is_used_when_configured(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    IdentityProvider.objects.filter(pk=idp.pk).update(use_userinfo=True)
    upstream.userinfo = {"sub": "upstream-1", "name": "From Userinfo", "email": "ada@example.com"}
    sign_in(client, upstream)
    assert "/userinfo" in upstream.requests
    assert User.objects.get().display_name == "From Userinfo"


def test_userinfo_for_another_subject_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    IdentityProvider.objects.filter(pk=idp.pk).update(use_userinfo=True)
    upstream.userinfo = {"sub": "someone-else", "email": "ada@example.com"}
    response = sign_in(client, upstream)
    assert response.status_code == 400
    assert _refusals("userinfo_mismatch") == 1
    assert not User.objects.exists()


def test_linking_another_sign_in_needs_a_recent_sign_in(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    me = UserFactory.create(email="me@example.com")
    _password_sign_in(client, me)
    session = client.session
    session[AUTH_TIME_KEY] = int(time.time()) - 16 * 60
    session.save()
    response = sign_in(client, upstream)
    assert response.status_code == 400
    assert _refusals("recent_sign_in_required") == 1
    assert not ExternalIdentity.objects.exists()
    assert _signed_in_as(client) == str(me.pk)

"""Unlinking an account from a provider, and what the request schema states of a provider."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from audit.models import AuditEvent
from authn.identity_providers import selectors
from authn.identity_providers.services import LastSignInMethod, external_identity_unlink
from authn.models import ExternalIdentity
from tests.authn.identity_providers.helpers import link, provider_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


def test_unlinking_with_a_password_removes_the_link_and_audits_it(user):
    identity = link(user, provider_create("acme"), "sub-7")

    external_identity_unlink(actor=None, identity=identity, via="command")

    assert not ExternalIdentity.objects.exists()
    event = AuditEvent.objects.get(type="external_identity.unlinked")
    assert (event.subject_type, event.subject_id) == ("user", str(user.pk))
    assert event.data == {"idp": "acme", "subject": "sub-7", "via": "command"}


def test_the_last_way_to_sign_in_is_refused():
    user = UserFactory.create()
    user.set_unusable_password()
    user.save()
    identity = link(user, provider_create("acme"))

    with pytest.raises(LastSignInMethod):
        external_identity_unlink(actor=None, identity=identity, via="command")

    assert ExternalIdentity.objects.filter(pk=identity.pk).exists()
    assert LastSignInMethod.code == "last_sign_in_method"


def test_a_link_to_a_disabled_provider_is_not_a_way_left_to_sign_in():
    user = UserFactory.create()
    user.set_unusable_password()
    user.save()
    identity = link(user, provider_create("acme"))
    link(user, provider_create("beta", enabled=False))

    with pytest.raises(LastSignInMethod):
        external_identity_unlink(actor=None, identity=identity, via="command")

    assert ExternalIdentity.objects.filter(pk=identity.pk).exists()


def test_the_shared_selectors():
    user = UserFactory.create()
    on = provider_create("beta")
    provider_create("acme", enabled=False)
    first = link(user, on, "x")

    assert [p.slug for p in selectors.identity_providers_enabled()] == ["beta"]
    disabled = selectors.identity_provider_get(slug="acme")
    assert disabled is not None
    assert disabled.enabled is False
    assert selectors.identity_provider_get(slug="nobody") is None
    assert selectors.external_identities_of(user=user) == [first]


@pytest.fixture(scope="module")
def request_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return schema["components"]["schemas"]["IdentityProviderInRequest"]


def test_the_request_schema_states_the_rules_the_server_checks(request_schema):
    properties = request_schema["properties"]

    assert request_schema["additionalProperties"] is False
    assert properties["scopes"]["not"] == {"items": {"not": {"type": "string", "enum": ["openid"]}}}
    assert "client_secret" in properties
    issuer = properties["issuer"]["pattern"]
    assert re.search(issuer, "https://login.example.com/realms/a")
    assert re.search(issuer, "http://127.0.0.1:9000")
    for refused in ["http://login.example.com", "https://a.example/?q=1", "https://a.example/#f"]:
        assert re.search(issuer, refused) is None, refused

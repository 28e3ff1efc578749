"""Password storage (Argon2id), password rules (NIST 800-63B) and sign-in by username or email."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import check_password, identify_hasher
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from accounts.hashers import OwaspArgon2idHasher
from accounts.validators import MaximumLengthValidator
from tests.factories import DEFAULT_PASSWORD, UserFactory

OWASP_ARGON2ID_PREFIX = "argon2$argon2id$v=19$m=19456,t=2,p=1$"


# --- Hashing --------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["base", "production"])
def test_argon2id_is_the_default_hasher_outside_tests(module):
    settings_module = importlib.import_module(f"micro_platform.settings.{module}")

    assert settings_module.PASSWORD_HASHERS[0] == "accounts.hashers.OwaspArgon2idHasher"


def test_owasp_hasher_produces_argon2id_at_owasp_parameters():
    hasher = OwaspArgon2idHasher()

    encoded = hasher.encode("correct horse battery staple", hasher.salt())

    assert encoded.startswith(OWASP_ARGON2ID_PREFIX)
    assert hasher.verify("correct horse battery staple", encoded)
    assert not hasher.verify("correct horse battery stapler", encoded)


def test_owasp_hasher_needs_no_rehash_at_current_parameters():
    hasher = OwaspArgon2idHasher()
    encoded = hasher.encode("pw-123456", hasher.salt())

    assert hasher.must_update(encoded) is False


def test_owasp_hasher_raises_the_cost_from_settings(settings):
    settings.MICRO_ARGON2_TIME_COST = 3
    hasher = OwaspArgon2idHasher()

    encoded = hasher.encode("pw-123456", hasher.salt())

    assert encoded.startswith("argon2$argon2id$v=19$m=19456,t=3,p=1$")


def test_argon2id_hash_is_accepted_at_sign_in(db):
    user = UserFactory.create()
    hasher = OwaspArgon2idHasher()
    user.password = hasher.encode(DEFAULT_PASSWORD, hasher.salt())
    user.save(update_fields=["password"])

    assert authenticate(None, username=user.username, password=DEFAULT_PASSWORD) == user
    assert identify_hasher(user.password).algorithm == "argon2"
    assert check_password(DEFAULT_PASSWORD, user.password)


# --- Validators -----------------------------------------------------------------------------


def test_maximum_length_validator_accepts_256_characters():
    MaximumLengthValidator(max_length=256).validate("a" * 256)


def test_maximum_length_validator_rejects_257_characters():
    with pytest.raises(ValidationError) as excinfo:
        MaximumLengthValidator(max_length=256).validate("a" * 257)

    assert excinfo.value.code == "password_too_long"


def test_configured_validators_accept_a_256_character_unicode_passphrase():
    passphrase = ("sommer 夏 été лето " * 20)[:256]

    validate_password(passphrase)


def test_configured_validators_reject_257_characters():
    with pytest.raises(ValidationError) as excinfo:
        validate_password("word " * 51 + "xx")

    assert "password_too_long" in [error.code for error in excinfo.value.error_list]


@pytest.mark.parametrize(
    ("password", "code"),
    [("seven77", "password_too_short"), ("password123", "password_too_common")],
)
def test_configured_validators_reject_short_and_common_passwords(password, code):
    with pytest.raises(ValidationError) as excinfo:
        validate_password(password)

    assert code in [error.code for error in excinfo.value.error_list]


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "onlylowercaseletters", "        spaces!"]
)
def test_configured_validators_impose_no_composition_rules(password):
    validate_password(password)


def test_password_of_257_characters_is_rejected_by_the_api(user_client):
    response = user_client.post(
        "/api/v1/me/password", {"old_password": DEFAULT_PASSWORD, "new_password": "x" * 257}
    )

    assert response.status_code == 400
    assert "new_password" in response.json()["errors"]


# --- Sign-in by username or email ---------------------------------------------------------


def obtain(client, username: str, password: str = DEFAULT_PASSWORD):
    return client.post("/api/v1/auth/token", {"username": username, "password": password})


def test_sign_in_username_is_case_insensitive(anon_client, db):
    user = UserFactory.create(username="MixedCase")

    for spelling in ["mixedcase", "MIXEDCASE", "MixedCase"]:
        assert authenticate(None, username=spelling, password=DEFAULT_PASSWORD) == user
    assert obtain(anon_client, "mIxEdCaSe").status_code == 200


def test_sign_in_by_email_case_insensitively(anon_client, db):
    user = UserFactory.create(email="Person@Example.com")

    assert authenticate(None, username="person@example.com", password=DEFAULT_PASSWORD) == user
    response = obtain(anon_client, "PERSON@EXAMPLE.COM")

    assert response.status_code == 200
    assert response.json()["access_token"]


def test_username_cannot_contain_at_sign_so_it_never_shadows_an_email(admin_client):
    response = admin_client.post(
        "/api/v1/users", {"username": "ops@team", "email": "ops@example.com"}, format="json"
    )

    assert response.status_code == 400
    assert "username" in response.json()["errors"]


def test_login_with_at_sign_is_looked_up_as_email_only(db):
    owner = UserFactory.create(username="ops", email="ops@team.example")

    assert authenticate(None, username="OPS@team.example", password=DEFAULT_PASSWORD) == owner


def test_sign_in_by_email_with_wrong_password_fails(anon_client, user):
    response = obtain(anon_client, user.email, "wrong password here")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_sign_in_of_unknown_email_and_wrong_password_look_the_same(anon_client, user):
    unknown = obtain(anon_client, "nobody@example.com", "wrong password here")
    wrong = obtain(anon_client, user.email, "wrong password here")

    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_inactive_user_cannot_sign_in_by_email(anon_client, db):
    user = UserFactory.create(is_active=False)

    assert authenticate(None, username=user.email, password=DEFAULT_PASSWORD) is None
    assert obtain(anon_client, user.email).status_code == 401


def test_user_without_email_cannot_be_found_by_blank_email(db):
    UserFactory.create(email="")

    assert authenticate(None, username="", password=DEFAULT_PASSWORD) is None
    assert authenticate(None, username="@", password=DEFAULT_PASSWORD) is None

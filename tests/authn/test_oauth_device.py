"""The device authorization grant (RFC 8628) with the `micro-cli` client and the device pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.test import Client
from oauth2_provider.models import Application, DeviceGrant

from accounts.models import User
from authn.oauth import views as oauth_views
from authn.oauth.views import DEVICE_CODE_FAILURES
from tests.authn.oauth_helpers import DEVICE_GRANT, TOKEN_URL, claims
from tests.factories import UserFactory

CLI = "micro-cli"
FORM = "application/x-www-form-urlencoded"


def start(scope: str = "openid profile users:read", client_id: str = CLI) -> dict[str, Any]:
    response = Client().post(
        "/o/device-authorization/",
        urlencode({"client_id": client_id, "scope": scope}),
        content_type=FORM,
    )
    assert response.status_code == 200, response.content
    return response.json()


def poll(device_code: str, client_id: str = CLI) -> Any:
    return Client().post(
        TOKEN_URL,
        {"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id},
    )


def approve(browser: Client, user_code: str, action: str = "accept") -> Any:
    entered = browser.post("/o/device/", {"user_code": user_code})
    assert entered.status_code == 302, entered.content
    confirm_url = entered["Location"]
    assert browser.get(confirm_url).status_code == 200
    return browser.post(confirm_url, {"action": action})


def test_the_cli_client_exists_as_a_public_device_client(db: Any) -> None:
    client = Application.objects.get(client_id=CLI)
    assert client.client_type == Application.CLIENT_PUBLIC
    assert client.authorization_grant_type == Application.GRANT_DEVICE_CODE


def test_device_login_end_to_end(browser: Client, member: User) -> None:
    started = start()
    assert started["verification_uri"].endswith("/o/device/")
    assert started["verification_uri_complete"].endswith(
        f"/o/device/?user_code={started['user_code']}"
    )
    complete = urlsplit(started["verification_uri_complete"])
    prefilled = browser.get(f"{complete.path}?{complete.query}")
    assert started["user_code"].encode() in prefilled.content
    assert started["interval"] >= 1 and started["expires_in"] > 0

    pending = poll(started["device_code"])
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"

    done = approve(browser, started["user_code"])
    assert done.status_code == 302
    assert b"Device connected" in browser.get(done["Location"]).content

    response = poll(started["device_code"])
    assert response.status_code == 200, response.content
    tokens = response.json()
    access = claims(tokens["access_token"])
    assert access["sub"] == str(member.pk)
    assert access["client_id"] == CLI
    assert set(access["scope"].split()) == {"profile", "users:read"}
    assert tokens["refresh_token"]

    refreshed = Client().post(
        TOKEN_URL,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": CLI},
    )
    assert refreshed.status_code == 200, refreshed.content
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]


def test_the_device_code_works_once(browser: Client) -> None:
    started = start()
    approve(browser, started["user_code"])
    assert poll(started["device_code"]).status_code == 200

    again = poll(started["device_code"])

    assert again.status_code == 400
    assert "access_token" not in again.json()


def test_a_denied_device_gets_access_denied(browser: Client) -> None:
    started = start()
    approve(browser, started["user_code"], action="deny")

    response = poll(started["device_code"])

    assert response.status_code == 400
    assert response.json()["error"] == "access_denied"


def test_an_expired_device_code_answers_expired_token(browser: Client) -> None:
    started = start()
    DeviceGrant.objects.filter(device_code=started["device_code"]).update(
        expires="2000-01-01T00:00:00Z"
    )

    response = poll(started["device_code"])

    assert response.status_code == 400
    assert response.json()["error"] == "expired_token"
    entered = browser.post("/o/device/", {"user_code": started["user_code"]})
    assert entered.status_code == 200
    assert b"Expired" in entered.content


def test_the_device_page_needs_the_dashboard_sign_in(db: Any) -> None:
    response = Client().get("/o/device/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/o/device/")


def test_wrong_user_codes_are_limited_per_user(browser: Client) -> None:
    for _ in range(DEVICE_CODE_FAILURES):
        assert browser.post("/o/device/", {"user_code": "WRONG123"}).status_code == 200
    started = start()

    blocked = browser.post("/o/device/", {"user_code": started["user_code"]})

    assert blocked.status_code == 429
    assert blocked["Retry-After"]


def test_another_user_cannot_confirm_a_code_someone_else_entered(browser: Client, db: Any) -> None:
    started = start()
    entered = browser.post("/o/device/", {"user_code": started["user_code"]})
    intruder = Client()
    intruder.force_login(UserFactory.create())

    response = intruder.post(entered["Location"], {"action": "accept"})

    assert response.status_code == 404
    assert poll(started["device_code"]).json()["error"] == "authorization_pending"


def test_an_unknown_client_cannot_start_a_device_login(db: Any) -> None:
    response = Client().post(
        "/o/device-authorization/", urlencode({"client_id": "nope"}), content_type=FORM
    )

    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_client", "invalid_request")


def test_a_device_code_of_another_client_or_a_made_up_one_is_refused(browser: Client) -> None:
    started = start()
    approve(browser, started["user_code"])

    assert poll(started["device_code"], client_id="someone-else").json()["error"] == (
        "invalid_grant"
    )
    assert poll("made-up").json()["error"] == "invalid_grant"
    missing = Client().post(TOKEN_URL, {"grant_type": DEVICE_GRANT, "client_id": CLI})
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


def device_authorization(scope: str | None = None, *, remote_addr: str = "127.0.0.1") -> Any:
    data = {"client_id": CLI} if scope is None else {"client_id": CLI, "scope": scope}
    return Client(REMOTE_ADDR=remote_addr).post(
        "/o/device-authorization/", urlencode(data), content_type=FORM
    )


@pytest.mark.parametrize(
    "scope",
    ["openid " * 128_000, "openid profile delete:everything", "profile " + "x" * 300, "API_ADMIN"],
)
def test_a_device_authorization_with_an_unknown_or_overlong_scope_stores_nothing(
    db: Any, scope: str
) -> None:
    response = device_authorization(scope)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid_scope"
    assert not DeviceGrant.objects.exists()


def test_a_device_authorization_with_catalogue_scopes_or_none_is_started(db: Any) -> None:
    assert device_authorization("openid profile users:read objects:write").status_code == 200
    assert device_authorization().status_code == 200
    assert DeviceGrant.objects.count() == 2


def test_device_authorizations_are_limited_per_ip(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oauth_views, "DEVICE_AUTHORIZATIONS_PER_IP", 2)
    assert device_authorization("openid").status_code == 200
    assert device_authorization("nonsense").status_code == 400  # every call counts

    refused = device_authorization("openid")

    assert refused.status_code == 429
    assert refused.json()["error"] == "slow_down"
    assert 0 < int(refused["Retry-After"]) <= oauth_views.DEVICE_AUTHORIZATION_WINDOW_SECONDS
    assert DeviceGrant.objects.count() == 1
    assert device_authorization("openid", remote_addr="192.0.2.7").status_code == 200

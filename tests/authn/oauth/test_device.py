"""The device authorization grant (RFC 8628) with the `micro-cli` client and the device pages."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.http import HttpResponse
from django.test import Client
from oauth2_provider import views as dot_views
from oauth2_provider.models import Application, DeviceGrant
from oauthlib.oauth2.rfc8628.errors import SlowDownError

from accounts.models import User
from authn.oauth import user_codes
from authn.oauth import views as oauth_views
from authn.oauth.device import DEVICE_CODE_FAILURES
from authn.oauth.user_codes import user_code_generate, user_code_normalize
from tests.authn.oauth_helpers import (
    DEVICE_GRANT,
    TOKEN_URL,
    basic,
    claims,
    device_decision,
    make_client,
)
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
    return browser.post(confirm_url, device_decision(browser, confirm_url, action))


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


def test_a_confidential_device_client_may_poll_with_basic_auth(browser: Client, db: Any) -> None:

    device = make_client(grant_type=Application.GRANT_DEVICE_CODE, name="TV")
    started = (
        Client()
        .post(
            "/o/device-authorization/",
            urlencode({"client_id": device.client_id, "client_secret": device.client_secret}),
            content_type="application/x-www-form-urlencoded",
        )
        .json()
    )
    entered = browser.post("/o/device/", {"user_code": started["user_code"]})
    browser.post(entered["Location"], device_decision(browser, entered["Location"]))

    response = Client().post(
        TOKEN_URL,
        {"grant_type": DEVICE_GRANT, "device_code": started["device_code"]},
        HTTP_AUTHORIZATION=basic(device),
    )

    assert response.status_code == 200, response.content


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

    response = intruder.post(entered["Location"], device_decision(intruder, entered["Location"]))

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


UNAMBIGUOUS_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")


def test_user_codes_are_unambiguous_letters_shown_in_two_groups(db: Any) -> None:
    codes = [start()["user_code"] for _ in range(5)] + [user_code_generate() for _ in range(50)]

    assert all(UNAMBIGUOUS_CODE.match(code) for code in codes), codes
    assert not set("".join(codes)) & set("AEIOUY0123456789")


def test_a_new_user_code_is_drawn_again_when_a_stored_grant_has_it(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = start()["user_code"]
    draws = iter(taken.replace("-", "") + "CCCCCCCC")
    monkeypatch.setattr(user_codes.secrets, "choice", lambda alphabet: next(draws))

    assert user_code_generate() == "CCCC-CCCC"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("WDJB-MJHT", "WDJB-MJHT"),
        ("wdjbmjht", "WDJB-MJHT"),
        (" wdjb mjht ", "WDJB-MJHT"),
        ("Wd-Jb-Mj-Ht", "WDJB-MJHT"),
        ("WDJB\u2013MJHT", "WDJB-MJHT"),
        ("WDJB-MJH", None),
        ("WDJB-MJHTX", None),
        ("WDJB-MJH0", None),
        ("WDJB_MJHT", None),
        ("", None),
    ],
)
def test_a_typed_user_code_is_read_in_any_case_and_with_any_separators(
    typed: str, stored: str | None
) -> None:
    assert user_code_normalize(typed) == stored


def test_a_code_typed_in_lower_case_with_spaces_approves_the_device(browser: Client) -> None:
    started = start()
    typed = " ".join(started["user_code"].replace("-", "").lower())

    done = approve(browser, typed)

    assert done.status_code == 302
    assert poll(started["device_code"]).status_code == 200


def test_the_code_is_in_no_url_after_it_is_entered(browser: Client) -> None:
    started = start()
    code = started["user_code"]
    letters = code.replace("-", "")

    entered = browser.post("/o/device/", {"user_code": code})
    confirm_page = browser.get(entered["Location"])
    decided = browser.post(entered["Location"], device_decision(browser, entered["Location"]))
    status_page = browser.get(decided["Location"])

    assert entered["Location"] == "/o/device-confirm/"
    assert decided["Location"] == "/o/device-grant-status/"
    for url in (entered["Location"], decided["Location"]):
        assert code not in url and letters not in url
    assert confirm_page.status_code == 200 and b"Approve" in confirm_page.content
    assert b"Device connected" in status_page.content


def test_the_confirm_page_without_an_entered_code_is_not_found(browser: Client) -> None:
    start()

    assert browser.get("/o/device-confirm/").status_code == 404
    assert browser.post("/o/device-confirm/", {"action": "accept"}).status_code == 404
    assert browser.get("/o/device-grant-status/").status_code == 404


def test_a_decision_on_a_page_shown_before_another_code_was_entered_is_refused(
    browser: Client,
) -> None:
    first, second = start(), start()
    entered = browser.post("/o/device/", {"user_code": first["user_code"]})
    shown = browser.get(entered["Location"]).content.decode()
    shown_grant = re.search(r'name="device_grant" value="(\d+)"', shown).group(1)  # type: ignore[union-attr]
    browser.post("/o/device/", {"user_code": second["user_code"]})

    stale = browser.post(entered["Location"], {"action": "accept", "device_grant": shown_grant})

    assert stale.status_code == 409
    assert b"enter its code again" in stale.content
    for started in (first, second):
        assert poll(started["device_code"]).json()["error"] == "authorization_pending"


def test_well_formed_but_unknown_codes_count_against_the_limit(browser: Client) -> None:
    for _ in range(DEVICE_CODE_FAILURES):
        assert browser.post("/o/device/", {"user_code": "BCDF-GHJK"}).status_code == 200

    assert browser.post("/o/device/", {"user_code": "BCDF-GHJK"}).status_code == 429


def _request_log(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "django.request"]


def test_a_pending_poll_is_logged_at_debug_level_not_as_a_warning(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    started = start()

    with caplog.at_level(logging.DEBUG, logger="django.request"):
        pending = poll(started["device_code"])

    assert pending.json()["error"] == "authorization_pending"
    assert _request_log(caplog) == [(logging.DEBUG, "Bad Request: /o/token/")]


def test_a_slow_down_answer_is_logged_at_debug_level_not_as_a_warning(
    db: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = start()
    monkeypatch.setattr(
        dot_views.TokenView,
        "device_flow_token_response",
        lambda *args, **kwargs: HttpResponse(
            SlowDownError().json, status=400, content_type="application/json"
        ),
    )

    with caplog.at_level(logging.DEBUG, logger="django.request"):
        answer = poll(started["device_code"])

    assert answer.json()["error"] == "slow_down"
    assert _request_log(caplog) == [(logging.DEBUG, "Bad Request: /o/token/")]


def test_other_refusals_at_the_token_endpoint_keep_their_warning(
    browser: Client, caplog: pytest.LogCaptureFixture
) -> None:
    denied = start()
    approve(browser, denied["user_code"], action="deny")

    with caplog.at_level(logging.DEBUG, logger="django.request"):
        answers = [
            poll(denied["device_code"]).json()["error"],
            poll("made-up").json()["error"],
            Client().post(TOKEN_URL, {"grant_type": "client_credentials"}).json()["error"],
        ]

    assert answers == ["access_denied", "invalid_grant", "invalid_client"]
    assert [level for level, _ in _request_log(caplog)] == [logging.WARNING] * 3


def test_a_decision_that_does_not_name_the_grant_it_saw_is_refused(browser: Client) -> None:
    started = start()
    entered = browser.post("/o/device/", {"user_code": started["user_code"]})
    assert browser.get(entered["Location"]).status_code == 200

    blind = browser.post(entered["Location"], {"action": "accept"})

    assert blind.status_code == 409
    assert poll(started["device_code"]).json()["error"] == "authorization_pending"

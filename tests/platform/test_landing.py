"""The landing page at `/`, the admin's "View site", and 404s: problem details under the API."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from tests.authn.dashboard_helpers import sign_in
from tests.factories import AdminFactory, UserFactory

PROBLEM = "application/problem+json"
LINKS = [
    "/accounts/login/",
    "/dashboard/",
    "/api/docs/",
    "/api/schema/",
    "/.well-known/openid-configuration",
    "/.well-known/jwks.json",
    "/healthz",
    "/readyz",
]


@pytest.mark.django_db
def test_the_landing_page_says_what_this_is_and_links_everywhere() -> None:
    response = Client().get("/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "<h1>Micro User Service</h1>" in page and "Sign in" in page
    for link in LINKS:
        assert f'href="{link}"' in page, link
    assert "default-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_the_landing_page_offers_the_dashboard_when_signed_in() -> None:
    client = Client()
    sign_in(client, UserFactory.create())

    page = client.get("/").content.decode()

    assert "Open your dashboard" in page and ">Sign in<" not in page


@pytest.mark.django_db
@override_settings(MICRO_SIGNUP_OPEN=True)
def test_the_landing_page_links_sign_up_when_it_is_open() -> None:
    assert 'href="/accounts/signup/"' in Client().get("/").content.decode()


@pytest.mark.django_db
def test_the_landing_page_refuses_a_post() -> None:
    assert Client().post("/").status_code == 405


@pytest.mark.django_db
def test_the_admins_view_site_link_opens_the_landing_page() -> None:
    client = Client()
    sign_in(client, AdminFactory.create())

    admin_page = client.get("/admin/").content.decode()

    assert '<a href="/">View site</a>' in admin_page
    assert "<h1>Micro User Service</h1>" in client.get("/").content.decode()


UNKNOWN_API_PATHS = [
    "/api/v1/no-such-thing",
    "/api/v1/users/not-a-uuid/extra",
    "/api/v2/users",
    "/api/",
    "/user/",
    "/user/read/extra",
    "/.well-known/no-such-document",
]


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize("path", UNKNOWN_API_PATHS)
def test_an_unknown_api_path_answers_problem_details(debug: bool, method: str, path: str) -> None:
    with override_settings(DEBUG=debug):
        response = getattr(Client(), method)(path)

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not_found"
    # Replaced innermost: the security headers are those of every other answer.
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
def test_an_unknown_page_elsewhere_stays_an_html_404(debug: bool) -> None:
    with override_settings(DEBUG=debug):
        response = Client().get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_an_api_404_keeps_its_own_code_and_detail(admin_client: APIClient) -> None:
    with override_settings(DEBUG=True):
        response = admin_client.get("/api/v1/users/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "user_not_found"

"""The warning logged once when requests arrive on a host the issuer does not name."""

from __future__ import annotations

import logging

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

from micro_platform import middleware
from micro_platform.middleware import IssuerHostMiddleware, issuer_hosts

WARNING = "MICRO_ISSUER is"


@pytest.fixture(autouse=True)
def _not_yet_warned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(middleware._Warned, "logged", False)


def call(host: str, path: str = "/healthz") -> None:
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    IssuerHostMiddleware(view)(RequestFactory().get(path, HTTP_HOST=host))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "micro.issuer"]


@override_settings(MICRO_ISSUER="http://127.0.0.1:8200", ALLOWED_HOSTS=["127.0.0.1", "localhost"])
def test_a_request_on_another_host_is_logged_once_per_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="micro.issuer"):
        call("127.0.0.1:8200")
        assert warnings(caplog) == []
        call("127.0.0.1:8000")
        call("localhost:8200")  # another middleware instance of the same process
    (line,) = warnings(caplog)
    assert "'127.0.0.1:8000'" in line and "MICRO_ISSUER is http://127.0.0.1:8200" in line


@override_settings(MICRO_ISSUER="https://ID.example.com", ALLOWED_HOSTS=[".example.com"])
@pytest.mark.parametrize("host", ["id.example.com", "ID.EXAMPLE.COM", "id.example.com:443"])
def test_the_issuers_own_host_is_never_logged(caplog: pytest.LogCaptureFixture, host: str) -> None:
    with caplog.at_level(logging.WARNING, logger="micro.issuer"):
        call(host)
    assert warnings(caplog) == []


@override_settings(MICRO_ISSUER="https://id.example.com", ALLOWED_HOSTS=["id.example.com"])
def test_a_host_the_service_refuses_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="micro.issuer"):
        call("evil.example")
        call("")
    assert warnings(caplog) == []
    assert middleware._Warned.logged is False  # a later real mismatch is still reported


def test_issuer_hosts_include_the_default_port_either_way() -> None:
    assert issuer_hosts("https://id.example.com") == {"id.example.com", "id.example.com:443"}
    assert issuer_hosts("http://h:80") == {"h", "h:80"}
    assert issuer_hosts("http://127.0.0.1:8200") == {"127.0.0.1:8200"}


@override_settings(MICRO_ISSUER="https://id.example.com", ALLOWED_HOSTS=[".example.com"])
def test_the_gateways_verify_under_the_protected_host_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="micro.issuer"):
        call("api.example.com", "/api/v1/auth/verify")
        call("api.example.com", "/api/v1/auth/verify?scope=users:read")
    assert warnings(caplog) == []
    assert middleware._Warned.logged is False

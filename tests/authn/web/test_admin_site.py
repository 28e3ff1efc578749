"""The admin index: models under readable names, one entry per concept."""

from __future__ import annotations

import re

from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group as AuthGroup
from django.test import Client

OWN_APPS = ("accounts", "audit", "authn", "permissions", "objects", "micro_platform")
ACRONYMS = re.compile(r"\b(api|oauth|otp|totp|jwt|url|ip)\b")


def _index_labels(admin_user) -> list[str]:
    browser = Client()
    browser.force_login(admin_user)
    response = browser.get("/admin/", secure=True)
    assert response.status_code == 200
    return [model["name"] for app in response.context["app_list"] for model in app["models"]]


def test_admin_index_names_models_properly(admin_user):
    labels = _index_labels(admin_user)

    assert "Token families" in labels
    assert "API keys" in labels
    assert "Token familys" not in labels and "Api keys" not in labels
    assert labels.count("Groups") == 1


def test_django_auth_groups_are_not_in_the_admin(admin_user):
    assert not admin.site.is_registered(AuthGroup)
    browser = Client()
    browser.force_login(admin_user)
    assert browser.get("/admin/auth/group/", secure=True).status_code == 404


def test_every_model_of_the_service_has_a_proper_plural_and_acronyms_in_capitals():
    for app_label in OWN_APPS:
        for model in apps.get_app_config(app_label).get_models():
            plural = str(model._meta.verbose_name_plural)
            assert not re.search(r"[^aeiou]ys$", plural), (model, plural)
            assert not ACRONYMS.search(str(model._meta.verbose_name)), model
            assert not ACRONYMS.search(plural), model

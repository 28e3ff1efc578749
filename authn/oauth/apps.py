from django.apps import AppConfig


class OAuthClientsConfig(AppConfig):
    """authn.oauth as an app for its management commands only. It is listed before
    oauth2_provider, so its `createapplication` replaces the toolkit's (Django runs the
    command of the first app that has one)."""

    name = "authn.oauth"
    label = "micro_oauth"
    verbose_name = "OAuth 2.0 clients"

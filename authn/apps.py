from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save


class AuthnConfig(AppConfig):
    name = "authn"
    verbose_name = "Authentication"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from authn.signals import revoke_tokens_of_deleted_user

        pre_delete.connect(
            revoke_tokens_of_deleted_user,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="authn.revoke_tokens_of_deleted_user",
        )
        self._connect_api_key_invalidation()
        self._connect_oauth_revocation()
        self._connect_redirect_uri_rule()

    def _connect_oauth_revocation(self) -> None:
        # Every path that ends an OAuth 2.0 access token deletes its row (revocation, refresh
        # rotation, reuse detection, RP-initiated logout, the admin): the JWT, verified offline,
        # is put on the revocation list as the row goes.
        from authn.signals import revoke_deleted_oauth_access_token

        post_delete.connect(
            revoke_deleted_oauth_access_token,
            sender=settings.OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL,
            dispatch_uid="authn.revoke_deleted_oauth_access_token",
        )

    def _connect_redirect_uri_rule(self) -> None:
        # The forms and the command check redirect URIs before saving; this catches any other
        # path (a shell, a script, a future view) before a client is stored with one.
        from authn.signals import refuse_unsafe_redirect_uris

        pre_save.connect(
            refuse_unsafe_redirect_uris,
            sender=settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
            dispatch_uid="authn.refuse_unsafe_redirect_uris",
        )

    def _connect_api_key_invalidation(self) -> None:
        # Signals rather than calls in each service: changes made in the admin site (or any
        # other path that saves the models) invalidate cached API-key entries too.
        from authn.signals import api_keys_of_groups_changed, api_keys_of_user_changed

        for signal in (post_save, post_delete):
            for model in (settings.AUTH_USER_MODEL, "accounts.Membership", "authn.ApiKey"):
                signal.connect(
                    api_keys_of_user_changed,
                    sender=model,
                    dispatch_uid=f"authn.api_keys.{signal is post_save}.{model}",
                )
            # What members of groups hold: a group's scopes, a role, whom it is given to, and
            # the registry's scopes (a deleted one is held by nobody).
            for model in (
                "accounts.Group",
                "permissions.Role",
                "permissions.RoleAssignment",
                "permissions.Scope",
            ):
                signal.connect(
                    api_keys_of_groups_changed,
                    sender=model,
                    dispatch_uid=f"authn.api_keys.{signal is post_save}.{model}",
                )

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import pre_delete


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

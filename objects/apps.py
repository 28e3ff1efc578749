from django.apps import AppConfig


class ObjectsConfig(AppConfig):
    """The example resource service that uses `permissions` as any microservice would."""

    name = "objects"
    verbose_name = "Objects"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class PermissionsConfig(AppConfig):
    """Object-level access: grants, checks and DRF permission classes (tables come later)."""

    name = "permissions"
    verbose_name = "Permissions"
    default_auto_field = "django.db.models.BigAutoField"

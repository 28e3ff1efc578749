from django.apps import AppConfig


class PermissionsConfig(AppConfig):
    """Object-level access (grants, checks, DRF permission classes) and the platform's scope
    registry: services, their scopes, and roles."""

    name = "permissions"
    verbose_name = "Permissions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Signals rather than calls in each service: an edit in the admin site, or any other
        # path that saves the rows, reaches every process's registry snapshot too.
        from django.db.models.signals import post_delete, post_save

        from permissions.catalogue import registry_rows_changed

        for signal in (post_save, post_delete):
            for model in ("permissions.Service", "permissions.Scope"):
                signal.connect(
                    registry_rows_changed,
                    sender=model,
                    dispatch_uid=f"permissions.registry.{signal is post_save}.{model}",
                )

from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit trail: its table, `audit_record`, the reads and the API over them."""

    name = "audit"
    label = "audit"
    verbose_name = "Audit"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class PlatformConfig(AppConfig):
    """The project's own plumbing: its system checks (micro_platform.checks) and the table of
    the brute-force counters (micro_platform.counters)."""

    name = "micro_platform"
    verbose_name = "Platform"

    def ready(self) -> None:
        from micro_platform import checks  # noqa: F401 - registers the checks

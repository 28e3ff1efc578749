"""The platform's own table: the brute-force counters (micro_platform.counters)."""

from __future__ import annotations

from django.db import models


class Counter(models.Model):
    """An expiring brute-force counter, kept here when the shared cache is not Redis.

    See micro_platform.counters: rows are only incremented with a single atomic statement.
    """

    key = models.CharField(max_length=200, primary_key=True)
    value = models.PositiveIntegerField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        # The table the authn app created: the model moved, its rows stayed where they were.
        db_table = "authn_counter"

    def __str__(self) -> str:
        return f"counter {self.key} = {self.value}"

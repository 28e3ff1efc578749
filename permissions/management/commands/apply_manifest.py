"""`apply_manifest FILE [--dry-run] [--prune] [--json]`: a service registers itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from permissions import manifest as manifests

SUFFIXES = {".yaml": False, ".yml": False, ".json": True}


class Command(BaseCommand):
    help = (
        "Create or update a service, its scopes and its roles from a YAML or JSON manifest"
        " (FILE, or - for standard input). Checked whole first; applied in one transaction;"
        " applying the same manifest again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE", help="a .yaml, .yml or .json file, or -")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the changes; write nothing."
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Delete the service's scopes the manifest leaves out (never one still in use).",
        )
        parser.add_argument("--json", action="store_true", help="End with one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            text, as_json = self._read(options["file"])
            document = manifests.parse(text, as_json=as_json)
            declared = manifests.check(document)
            plan = manifests.plan(declared, prune=options["prune"])
            if not options["dry_run"]:
                manifests.apply(plan)
        except manifests.ManifestError as exc:
            raise CommandError(
                "the manifest was not applied:\n  " + "\n  ".join(exc.problems)
            ) from exc
        self._print(plan, dry_run=options["dry_run"], as_json=options["json"])

    def _read(self, name: str) -> tuple[str, bool]:
        if name == "-":
            text = sys.stdin.read()
            return text, text.lstrip().startswith("{")
        path = Path(name)
        if path.suffix.lower() not in SUFFIXES:
            raise CommandError("FILE must end in .yaml, .yml or .json (or be - for stdin)")
        try:
            return path.read_text(encoding="utf-8"), SUFFIXES[path.suffix.lower()]
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {name}: {exc}") from exc

    def _print(self, plan: manifests.Plan, *, dry_run: bool, as_json: bool) -> None:
        for change in plan.changes:
            if change.action != "unchanged":
                self.stdout.write(change.describe())
        summary = plan.summary()
        counts = ", ".join(
            f"{len(summary[label])} {label}"
            for label in ("created", "updated", "deleted", "kept", "unchanged")
        )
        verb = "would change (dry run, nothing written)" if dry_run else "applied"
        self.stdout.write(f"{plan.service}: {verb}: {counts}")
        if as_json:
            self.stdout.write(json.dumps({**summary, "dry_run": dry_run}, separators=(",", ":")))

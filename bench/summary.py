"""The Markdown summary of a bench run: one row per target, one column per configuration.

Imported by `bench/run.py`, which prints the table and writes it to
`bench/results/latest.md` (and, with `--readme`, into README.md). Also a script that renders a
saved run again without measuring anything:

    python bench/summary.py [--input bench/results/latest.json] [--readme]

Standard library only; it reads the JSON report `run.py` writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
DEFAULT_INPUT = ROOT / "bench" / "results" / "latest.json"
COLUMNS = (("sqlite", "SQLite default, no Redis"), ("postgresql", "PostgreSQL + Redis"))
NONE = "—"

Cell = Callable[[dict[str, Any]], str]


def check_value(report: dict[str, Any], key: str) -> float | None:
    for item in report.get("checks", []):
        if item["key"] == key:
            value = item["value"]
            return None if value is None else float(value)
    return None


def ratio_cell(key: str, digits: int = 2) -> Cell:
    def cell(report: dict[str, Any]) -> str:
        value = check_value(report, key)
        return "error" if value is None else f"{value:.{digits}f}"

    return cell


def rps_cell(key: str) -> Cell:
    def cell(report: dict[str, Any]) -> str:
        wrk = report.get("scenarios", {}).get(key, {}).get("wrk")
        return "error" if not wrk else f"{wrk['ok_rps']:,.0f}"

    return cell


def objects_cell(key: str) -> Cell:
    """The p95 at the large size of an in-process object scenario (PostgreSQL only)."""

    def cell(report: dict[str, Any]) -> str:
        objects = report.get("objects", {})
        if objects.get("skipped"):
            return f"{NONE} ¹"
        large = objects.get("sizes", {}).get("large")
        return "error" if not large else f"{large[key]['p95_ms']:.1f}"

    return cell


ROWS: tuple[tuple[str, Cell, str], ...] = (
    ("ceiling: bare WSGI hello, same gunicorn (req/s)", rps_cell("ceiling"), NONE),
    ("baseline `GET /healthz` (req/s)", rps_cell("baseline"), NONE),
    ("P1 verify, JWT (× `/healthz`)", ratio_cell("P1"), "≥ 1.5"),
    ("P2 verify, API key (× `/healthz`)", ratio_cell("P2"), "≥ 1.5"),
    ("P3 `GET /users/{id}` (× `/healthz`)", ratio_cell("P3"), "≥ 1.0 SQLite, ≥ 0.75 PostgreSQL"),
    ("P3 growth (p50 at 10× the users)", ratio_cell("growth"), "≤ 1.5"),
    ("P4 `GET /users?ids=<100>` (p50 × P3's)", ratio_cell("P4"), "≤ 3"),
    ("P5 sign-in (× bare Argon2id, 2 processes)", ratio_cell("P5"), "≥ 0.85"),
    ("P6 client credentials (tokens/s per core)", ratio_cell("P6", 0), "≥ 240"),
    ("P7 access check (p95 ms)", objects_cell("P7"), "≤ 5"),
    ("P8 object list, first page (p95 ms)", objects_cell("P8"), "≤ 20"),
    ("P8g the same through 10 groups (p95 ms)", objects_cell("P8g"), "≤ 20"),
    ("P9 downstream verify (× bare PyJWT decode)", ratio_cell("P9"), "≤ 1.2"),
)


def column_title(key: str, default: str, report: dict[str, Any] | None) -> str:
    return str(report.get("title", default)) if report else default


def cells(report: dict[str, Any] | None, cell: Cell) -> str:
    if report is None:
        return "not run"
    if "error" in report:
        return "not measured ²"
    return cell(report)


def machine_line(run: dict[str, Any]) -> str:
    machine = run.get("machine", {})
    ram = machine.get("ram_gib")
    parts = [
        f"{machine.get('cpu_model', 'unknown CPU')}, {machine.get('nproc', '?')} cores, "
        + (f"{ram} GiB RAM" if ram else "RAM unknown"),
        f"Python {machine.get('python', '?')}",
    ]
    databases = [
        str(report["database"])
        for report in run.get("configurations", {}).values()
        if report.get("database")
    ]
    return "; ".join(parts + databases)


def sizes_line(run: dict[str, Any]) -> str:
    notes = []
    for key, default in COLUMNS:
        report = run.get("configurations", {}).get(key)
        if not report or "config" not in report:
            continue
        config = report["config"]
        users = config["users_total"]
        text = (
            f"{column_title(key, default, report)}: {users['large']:,} users "
            f"({users['small']:,} for the growth), {config['duration_s']} s per scenario "
            f"after {config['warmup_s']} s of warm-up"
        )
        objects = report.get("objects", {}).get("sizes", {}).get("large")
        if objects:
            text += (
                f", {objects['seed']['objects']:,} objects / {objects['seed']['grants']:,} grants"
            )
        notes.append(text)
    return "; ".join(notes)


def summary_markdown(run: dict[str, Any]) -> str:
    """The table of one run, with the machine, the date and the commit under it."""
    configurations = run.get("configurations", {})
    reports = [configurations.get(key) for key, _ in COLUMNS]
    titles = [column_title(key, default, configurations.get(key)) for key, default in COLUMNS]
    lines = [
        "| | " + " | ".join(titles) + " | target |",
        "|---|" + "---|" * len(titles) + "---|",
    ]
    for label, cell, target in ROWS:
        lines.append(
            f"| {label} | " + " | ".join(cells(r, cell) for r in reports) + f" | {target} |"
        )
    kind = (
        "smoke run (small data, short runs: it shows the paths work, not the ratios)"
        if run.get("smoke")
        else "full run"
    )
    date = str(run.get("date", "?")).replace("T", " ").replace("+00:00", " UTC")
    lines += [
        "",
        f"`make bench`, {kind}, {date}, commit {run.get('commit', '?')}. "
        f"Machine: {machine_line(run)}. gunicorn with 2 sync workers, `wrk -t2 -c16`; "
        f"{sizes_line(run)}.",
    ]
    footnotes = []
    if any(r and r.get("objects", {}).get("skipped") for r in reports):
        footnotes.append(
            "¹ P7/P8/P8g run on PostgreSQL only: their objects and grants are loaded with "
            "PostgreSQL's set-based SQL and their plans read with `EXPLAIN ANALYZE` "
            "([bench/README.md](bench/README.md))."
        )
    failed = [r for r in reports if r and "error" in r]
    if failed:
        reasons = "; ".join(f"{r['title']}: {r['error'].splitlines()[0]}" for r in failed)
        footnotes.append(f"² not measured: {reasons}")
    if footnotes:
        lines += ["", *footnotes]
    return "\n".join(lines) + "\n"


def rewrite_readme(path: Path, markdown: str) -> None:
    """Replaces what lies between the two bench markers of `path` with `markdown`."""
    text = path.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"{path} has no {README_START} … {README_END} section")
    head = text[: start + len(README_START)]
    path.write_text(f"{head}\n{markdown}{text[end:]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render a saved bench run as Markdown.")
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="a run's JSON")
    parser.add_argument("--readme", action="store_true", help="rewrite README.md's table")
    args = parser.parse_args(argv)
    markdown = summary_markdown(json.loads(args.input.read_text()))
    sys.stdout.write(markdown)
    if args.readme:
        rewrite_readme(README, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

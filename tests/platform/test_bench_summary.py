"""The bench's Markdown summary and its README rewrite (bench/summary.py): shape, not speed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import summary

ROOT = Path(__file__).resolve().parents[2]


def configuration(title: str, *, objects: dict[str, Any]) -> dict[str, Any]:
    checks = [
        {"key": key, "value": value}
        for key, value in {"P1": 0.7, "P2": 0.55, "P3": 0.37, "P6": 89.4, "P9": 1.1}.items()
    ]
    return {
        "title": title,
        "database": "SQLite 3.40.1",
        "config": {
            "duration_s": 10,
            "warmup_s": 2,
            "users_total": {"large": 100_009, "small": 10_008},
        },
        "scenarios": {
            "ceiling": {"wrk": {"ok_rps": 3822.0}},
            "baseline": {"wrk": {"ok_rps": 975.1}},
            "P1": {"wrk": None},
        },
        "checks": [*checks, {"key": "growth", "value": None}],
        "objects": objects,
    }


def run_report(**configurations: dict[str, Any]) -> dict[str, Any]:
    return {
        "smoke": True,
        "date": "2026-12-06T11:51:27+00:00",
        "commit": "7945de9b51af",
        "machine": {"cpu_model": "Some CPU", "nproc": 2, "ram_gib": 23.5, "python": "3.11.7"},
        "configurations": configurations,
    }


def table_row(markdown: str, label: str) -> list[str]:
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {label}"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_one_column_per_configuration_with_the_target_last() -> None:
    sqlite = configuration("SQLite default, no Redis", objects={"skipped": "PostgreSQL only"})
    markdown = summary.summary_markdown(
        run_report(sqlite=sqlite, postgresql={"title": "PostgreSQL + Redis", "error": "refused"})
    )

    assert markdown.splitlines()[0] == (
        "| | SQLite default, no Redis | PostgreSQL + Redis | target |"
    )
    assert table_row(markdown, "baseline")[1:] == ["975", "not measured ²", "—"]
    assert table_row(markdown, "P1 verify, JWT")[1:] == ["0.70", "not measured ²", "≥ 1.5"]
    assert table_row(markdown, "P6")[1] == "89"
    assert table_row(markdown, "P3 growth")[1] == "error"  # a value that could not be measured
    assert table_row(markdown, "P7")[1] == "— ¹"
    assert "¹ P7/P8/P8g run on PostgreSQL only" in markdown
    assert "² not measured: PostgreSQL + Redis: refused" in markdown
    assert "smoke run" in markdown  # smoke figures are labelled as such
    assert "commit 7945de9b51af" in markdown
    assert "Some CPU, 2 cores, 23.5 GiB RAM" in markdown


def test_a_configuration_left_out_reads_not_run() -> None:
    postgresql = configuration(
        "PostgreSQL + Redis",
        objects={"sizes": {"large": {"seed": {"objects": 1_000_000, "grants": 5_010_000}}}},
    )
    for key in ("P7", "P8", "P8g"):
        postgresql["objects"]["sizes"]["large"][key] = {"p95_ms": 8.04}
    markdown = summary.summary_markdown(run_report(postgresql=postgresql))

    assert table_row(markdown, "P7")[1:] == ["not run", "8.0", "≤ 5"]
    assert "¹" not in markdown and "²" not in markdown
    assert "1,000,000 objects / 5,010,000 grants" in markdown


def test_the_readme_table_is_replaced_between_the_markers_only(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# Title\n\nbefore\n\n{summary.README_START}\nold table\n{summary.README_END}\n\nafter\n"
    )

    summary.rewrite_readme(readme, "| new | table |\n")
    summary.rewrite_readme(readme, "| new | table |\n")  # the same text twice: no drift

    assert readme.read_text() == (
        f"# Title\n\nbefore\n\n{summary.README_START}\n| new | table |\n"
        f"{summary.README_END}\n\nafter\n"
    )


def test_a_readme_without_the_markers_is_left_alone(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n")

    with pytest.raises(ValueError, match="bench:start"):
        summary.rewrite_readme(readme, "| new | table |\n")
    assert readme.read_text() == "# Title\n"


def test_the_project_readme_has_the_markers_in_order() -> None:
    text = (ROOT / "README.md").read_text()

    assert text.count(summary.README_START) == 1
    assert text.count(summary.README_END) == 1
    assert text.index(summary.README_START) < text.index(summary.README_END)

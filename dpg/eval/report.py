"""Writing an evaluation's result: ``<stem>.json`` (the figures) and ``<stem>.md`` (the table,
also printed), shared by every ``dpg eval`` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def write_report(out: Path, stem: str, result: dict, markdown: str) -> None:
    """Write ``result`` and its ``markdown`` table under ``out`` and print the table."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1, default=float))
    (out / f"{stem}.md").write_text(markdown)
    print(markdown, end="")
    print(f"wrote {out / stem}.json and .md", file=sys.stderr)

"""``dpg bench``: run every ``bench/*.py`` script and write their figures into the README.

A benchmark script reports each result on its own stdout line::

    FIGURE <name>: <value and unit>

(``name`` may hold spaces but no colon; everything after the first ``": "`` is the value,
printed as it stands, so a unit or a note may follow the number). A script that cannot run
here (no data, no GPU) prints ``SKIP <name>: <reason>`` and exits 0. Other output is progress
and is shown, not parsed. The runner passes
``DPG_CHECKPOINT`` in the environment when ``--checkpoint`` is given; scripts with a
``--checkpoint`` option take it as their default.

The README's results table lives between the markers ``<!-- bench:start -->`` and
``<!-- bench:end -->``; only that span is rewritten (with the machine, and each script's run
time, date and figures). ``--only`` re-runs some scripts and replaces their rows alone: the
other scripts' rows stay as they were, with their own dates. A README without both markers
is an error, never edited.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue

from dpg.errors import UserError

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
FIGURE = re.compile(r"^FIGURE\s+(?P<name>[^:]+?)\s*:\s*(?P<value>.*?)\s*$")
SKIP = re.compile(r"^SKIP\s+(?P<name>[^:]+?)\s*:\s*(?P<value>.*?)\s*$")
REPO = Path(__file__).resolve().parents[2]


@dataclass
class BenchResult:
    script: str
    returncode: int
    seconds: float
    figures: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    tail: str = ""


def parse_figures(text: str, pattern: re.Pattern = FIGURE) -> list[tuple[str, str]]:
    """``(name, value)`` of every ``FIGURE name: value`` line (or ``SKIP`` with ``SKIP``), in order."""
    return [(m["name"], m["value"]) for m in map(pattern.match, text.splitlines()) if m]


def machine() -> str:
    """One line: CPU model and cores, OS, Python, torch, and the GPU when there is one."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    parts = [f"{cpu}, {os.cpu_count()} cores", platform.platform(terse=True), f"Python {platform.python_version()}"]
    try:
        import torch

        parts.append(f"torch {torch.__version__}")
        if torch.cuda.is_available():
            parts.append(f"GPU {torch.cuda.get_device_name(0)}")
    except ImportError:
        pass
    return "; ".join(parts)


def find_scripts(bench_dir: Path, only=None) -> list[Path]:
    if not bench_dir.is_dir():
        raise UserError(f"no benchmark folder {bench_dir}: pass --bench-dir (the repository's bench/)")
    scripts = sorted(p for p in bench_dir.glob("*.py") if not p.name.startswith("_"))
    if only:
        wanted = {o.removesuffix(".py") for o in only}
        unknown = wanted - {p.stem for p in scripts}
        if unknown:
            raise UserError(f"no benchmark named {', '.join(sorted(unknown))} in {bench_dir}")
        scripts = [p for p in scripts if p.stem in wanted]
    if not scripts:
        raise UserError(f"{bench_dir} holds no benchmark script")
    return scripts


def run_script(script: Path, env: dict, timeout: float | None = None, echo=True) -> BenchResult:
    """Run one script with this Python, echoing its output, and collect its figures. A
    script still running after ``timeout`` seconds is killed, printing or silent."""
    start = time.monotonic()
    lines: list[str] = []
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=script.parent.parent
    )
    queue: Queue = Queue()  # a reader thread, so a silent script cannot outlive its timeout

    def read() -> None:
        for line in proc.stdout:
            queue.put(line)
        queue.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        while True:
            left = None if timeout is None else timeout - (time.monotonic() - start)
            try:
                line = queue.get(timeout=max(left, 0)) if left is not None else queue.get()
            except Empty:
                proc.kill()
                lines.append(f"killed after {timeout:.0f} s\n")
                break
            if line is None:
                break
            lines.append(line)
            if echo:
                print(f"[{script.stem}] {line}", end="", flush=True)
        code = proc.wait()
    except KeyboardInterrupt:
        proc.kill()
        raise
    text = "".join(lines)
    seconds = time.monotonic() - start
    return BenchResult(script.name, code, seconds, parse_figures(text), parse_figures(text, SKIP), "".join(lines[-5:]))


TABLE_HEAD = ["| benchmark | figure | value |", "|---|---|---|"]
SCRIPT_CELL = re.compile(r"^\| `(?P<script>[^`]+)` \(")


def script_rows(r: BenchResult, date: str) -> list[str]:
    """One script's rows: its name, run time and date in the first cell of the first row."""
    name = f"`{r.script}` ({r.seconds:.0f} s, {date})"
    rows = []
    if r.returncode != 0:
        rows.append(f"| {name} | failed (exit {r.returncode}) | – |")
    elif not r.figures and not r.skipped:
        rows.append(f"| {name} | no FIGURE lines printed | – |")
    entries = r.figures + [(fig, f"skipped: {why}") for fig, why in r.skipped]
    for i, (fig, value) in enumerate(entries):
        rows.append(f"| {name if i == 0 and not rows else ''} | {fig} | {value.replace('|', '/')} |")
    return rows


def table_blocks(table: str) -> dict[str, list[str]]:
    """An earlier table's rows grouped by script, in order (rows before any script's are dropped)."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in table.splitlines():
        m = SCRIPT_CELL.match(line)
        if m:
            current = m["script"]
            blocks[current] = [line]
        elif current and line.startswith("|  |"):
            blocks[current].append(line)
    return blocks


def render_table(results: list[BenchResult], host: str, date: str, earlier: str = "") -> str:
    """The Markdown that goes between the README markers: the rows of ``results``, and those
    of the ``earlier`` table's scripts that were not run this time."""
    blocks = table_blocks(earlier)
    blocks.update({r.script: script_rows(r, date) for r in results})
    kept = sorted(set(blocks) - {r.script for r in results})
    before = re.search(r"Measured on (?P<host>.*?) by `dpg bench`", earlier)
    note = ""
    if kept:
        where = f" on {before['host']}" if before and before["host"] != host else ""
        note = f" (rows of {', '.join(kept)} from earlier runs{where}, dated in their rows)"
    rows = [f"Measured on {host} by `dpg bench`{note}.", "", *TABLE_HEAD]
    for script in sorted(blocks):
        rows += blocks[script]
    return "\n".join(rows)


def _readme_text(readme: Path) -> str:
    """The README's text, or a ``UserError`` when it lacks the markers in order."""
    if not readme.is_file():
        raise UserError(f"README {readme} not found: pass --readme")
    try:
        text = readme.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{readme} is not UTF-8 text: pass the repository's README.md with --readme") from None
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise UserError(f"{readme} needs exactly one {START} followed by one {END} where the results table goes")
    return text


def readme_table(readme: Path) -> str:
    """What lies between the README's bench markers now."""
    return _readme_text(readme).split(START, 1)[1].split(END, 1)[0]


def rewrite_readme(readme: Path, table: str) -> None:
    """Replace what lies between the bench markers (and nothing else), atomically."""
    text = _readme_text(readme)
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    tmp = readme.with_name(readme.name + f".tmp{os.getpid()}")
    tmp.write_text(f"{head}{START}\n{table}\n{END}{tail}", encoding="utf-8")
    os.replace(tmp, readme)


def run_benches(bench_dir: Path, readme: Path | None, only=None, checkpoint=None, timeout=None, echo=True) -> list[BenchResult]:
    """Run the scripts, then rewrite the README's table when ``readme`` is given."""
    if readme is not None:
        _readme_text(readme)  # refuse before hours of benchmarks, not after
    env = dict(os.environ)
    if checkpoint:
        env["DPG_CHECKPOINT"] = str(Path(checkpoint).resolve())
    results = [run_script(s, env, timeout, echo) for s in find_scripts(bench_dir, only)]
    earlier = readme_table(readme) if readme is not None and only else ""
    table = render_table(results, machine(), datetime.date.today().isoformat(), earlier)
    if readme is not None:
        rewrite_readme(readme, table)
    print(table)
    return results

"""``dpg bench``: figures parsed from the scripts' output, the README rewritten between its
markers and nowhere else (``dpg.eval.bench``)."""

import pytest

from dpg.cli import main
from dpg.errors import UserError
from dpg.eval.bench import END, START, parse_figures, rewrite_readme

README = f"""# Title

Text before, with a table of its own:

| a | b |
|---|---|

{START}
old results
{END}

Text after. {{not a format string}}
"""


def test_parse_figures():
    out = "progress 10%\nFIGURE quality.ssim: 0.8123  (256 people)\nFIGURE fd fg:12.5\nnot FIGURE x: 1\n"
    assert parse_figures(out) == [("quality.ssim", "0.8123  (256 people)"), ("fd fg", "12.5")]


def _scripts(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "bench_good.py").write_text(
        "import os\nprint('working')\nprint('FIGURE good.value: 42 ms')\n"
        "print('FIGURE good.checkpoint:', os.environ.get('DPG_CHECKPOINT', 'none'))\n"
    )
    (bench / "bench_skip.py").write_text("print('SKIP skip.gpu: no GPU here')\n")
    (bench / "bench_bad.py").write_text("import sys\nprint('FIGURE bad.partial: 1')\nsys.exit(3)\n")
    return bench


def test_bench_rewrites_only_between_the_markers(tmp_path, capsys):
    bench = _scripts(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(README)
    code = main(["bench", "--bench-dir", str(bench), "--readme", str(readme), "--checkpoint", str(tmp_path / "w.safetensors")])
    assert code == 1  # bench_bad failed
    text = readme.read_text()
    head, rest = text.split(START)
    inside, tail = rest.split(END)
    assert head == README.split(START)[0] and tail == README.split(END)[1]
    assert "old results" not in inside and "Measured on " in inside and "cores" in inside
    assert "| good.value | 42 ms |" in inside and "w.safetensors" in inside
    assert "| skip.gpu | skipped: no GPU here |" in inside
    assert "failed (exit 3)" in inside
    assert "[bench_good] working" in capsys.readouterr().out  # progress is echoed

    before = readme.read_text()
    (bench / "bench_good.py").write_text("print('FIGURE good.value: 41 ms')\n")
    assert main(["bench", "--bench-dir", str(bench), "--readme", str(readme), "--only", "bench_good"]) == 0
    after = readme.read_text()
    # only bench_good's rows changed; the others stay, in script order, with their dates
    assert "| good.value | 41 ms |" in after and "42 ms" not in after and "good.checkpoint" not in after
    keep = [line for line in before.splitlines() if "bench_bad" in line or "bench_skip" in line or "skip.gpu" in line]
    assert keep and all(line in after.splitlines() for line in keep)
    rows = [line for line in after.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == ["bench_bad.py", "bench_good.py", "bench_skip.py"]
    assert "from earlier runs" in after and after.count("Measured on") == 1


def test_readme_without_markers_is_refused_untouched(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(UserError, match="bench:start"):
        rewrite_readme(readme, "table")
    assert readme.read_text() == "# no markers\n"
    readme.write_text(f"{END}\n{START}\n")
    with pytest.raises(UserError):
        rewrite_readme(readme, "table")


def test_unknown_benchmark_is_named(tmp_path, capsys):
    bench = _scripts(tmp_path)
    assert main(["bench", "--bench-dir", str(bench), "--no-readme", "--only", "bench_nothing"]) == 1
    assert "bench_nothing" in capsys.readouterr().err


def test_a_silent_script_is_stopped_at_its_timeout(tmp_path):
    import time

    from dpg.eval.bench import run_script

    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "bench_silent.py").write_text("import time\ntime.sleep(60)\nprint('FIGURE late: 1')\n")
    start = time.monotonic()
    r = run_script(bench / "bench_silent.py", {}, timeout=1, echo=False)
    assert time.monotonic() - start < 30 and r.returncode != 0 and not r.figures and "killed after 1 s" in r.tail

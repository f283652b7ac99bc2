"""A trainer's command line: the shared options (``parser``), the config they resolve to
(``resolve_config``), and ``user_errors``, which turns bad input into one ``error:`` line."""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import replace

from dpg.config import Config, override, preset
from dpg.errors import UserError, path_problem
from train.dist import close_ours


def parser(description: str, presets: str = "market, deepfashion, cpu or tiny", example: str = "stage1.lr=1e-4") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--preset", default="cpu", help=f"{presets} (default: cpu)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=f"override a config field, e.g. {example}")
    p.add_argument("--data", default=None, help="a Market-1501 or DeepFashion root; procedural people when omitted")
    p.add_argument("--out", default=None, help="run folder (default: runs/<script>-<preset>)")
    p.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda when present)")
    p.add_argument("--fresh", action="store_true", help="ignore checkpoints in the run folder instead of resuming")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (status lines only)")
    return p


def resolve_config(args) -> Config:
    try:
        cfg = override(preset(args.preset), args.set)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    return cfg


def with_config(cfg: Config, **sections) -> Config:
    return replace(cfg, **sections)


def user_errors(main):
    """A trainer's ``main`` that reports bad input (``UserError``) and unwritable paths
    (``OSError``) as one ``error:`` line and exit code 1, never a traceback. Under
    ``torchrun``, a rank that stops so (or by an early ``return 1``) closes the process group
    ``Dist`` opened. A crash is left alone: closing a group while other ranks wait in a
    collective can hang, and ``torchrun`` ends the other ranks anyway."""

    @functools.wraps(main)
    def wrapped(argv=None) -> int:
        try:
            rc = main(argv)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            rc = 1
        except OSError as err:
            print(f"error: {path_problem(err)}: check the paths given (--out, --data, --init)", file=sys.stderr)
            rc = 1
        if rc:
            close_ours()
        return rc

    return wrapped

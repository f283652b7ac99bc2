"""The ``dpg`` command line: one subcommand per task, each defined next to the code it runs.

Each module in ``COMMAND_MODULES`` defines ``register(subparsers)``, which adds its
subcommands with ``set_defaults(func=...)``; ``func(args)`` returns an exit code. Modules are
imported lazily so that ``dpg --help`` stays quick and a missing optional dependency of one
command never breaks the others.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from dpg.errors import UserError

COMMAND_MODULES = (
    "dpg.pose.cli",  # dpg keypoints
    "dpg.data.cli",  # dpg render-synthetic
    "dpg.generate_cli",  # dpg sample / swap / transfer / interpolate / invert / virtual-market
    "dpg.eval.cli",  # dpg eval ..., dpg bench
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dpg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        # A module planned but not written yet has no spec; every shipped module is imported.
        try:
            if importlib.util.find_spec(name) is None:
                continue
        except ModuleNotFoundError:  # its parent package is not there either
            continue
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"dpg {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"dpg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

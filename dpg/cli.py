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

from dpg.errors import UserError, path_problem

COMMAND_MODULES = (
    "dpg.pose.cli",  # dpg keypoints
    "dpg.data.cli",  # dpg render-synthetic
    "dpg.generate_cli",  # dpg sample / swap / transfer / interpolate / invert / virtual-market
    "dpg.eval.cli",  # dpg eval ..., dpg bench
)


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def count(minimum: int = 1, maximum: int | None = None):
    """An argparse ``type``: an integer of at least ``minimum`` (a count of people, steps...)
    and, where given, at most ``maximum``."""

    def parse(text: str) -> int:
        value = _whole_number(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small: at least {minimum}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{value} is too large: at most {maximum}")
        return value

    parse.__name__ = "count"  # argparse names the type in its messages
    return parse


def positive_float(text: str) -> float:
    """An argparse ``type``: a number above 0 (a learning rate, seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be above 0")
    return value


def seed(text: str) -> int:
    """An argparse ``type``: a random seed, 0 <= seed < 2**63 (what ``torch.Generator`` takes)."""
    value = _whole_number(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"seed {value} is outside 0 .. 2**63 - 1")
    return value


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
    except OSError as err:  # an output folder that is a file, a path with no permission, a full disk
        print(f"dpg {args.command}: error: {path_problem(err)}: check the paths given "
              "(an output path must be a folder or file that can be created and written)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"dpg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``dpg`` command line: one subcommand per task, each defined next to the code it runs.

Each command module defines ``register(subparsers)``, which adds its subcommands with
``set_defaults(func=...)``; ``func(args)`` returns an exit code. They are imported here by
name (no module is found by a string), with their imports at the top, torch included (about
2 s on a 2-core machine for ``dpg --help``); only heavy optional ones (mediapipe, the FID and
LPIPS networks, matplotlib, huggingface_hub) load inside the command that needs them, so a
missing optional dependency of one command never breaks the others. Argument types live in
``dpg.argtypes``, so a command module never imports this one back.
"""

from __future__ import annotations

import argparse
import sys

from dpg import generate_cli
from dpg.data import cli as data_cli
from dpg.errors import UserError, path_problem
from dpg.eval import cli as eval_cli
from dpg.pose import cli as pose_cli

# keypoints; render-synthetic, prepare; sample, swap, transfer, interpolate, invert,
# virtual-market; eval ..., bench
COMMAND_MODULES = (pose_cli, data_cli, generate_cli, eval_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dpg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
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
        print(
            f"dpg {args.command}: error: {path_problem(err)}: check the paths given "
            "(an output path must be a folder or file that can be created and written)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(f"dpg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

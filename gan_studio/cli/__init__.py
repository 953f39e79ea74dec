"""The `gan-studio` command. Each sub-command lives in its own module with ``add_parser(sub)``
and ``run(args) -> int``; this module only wires them up and turns known errors into one line."""
from __future__ import annotations

import argparse
import importlib
import sys

#: sub-command name -> module (relative to gan_studio.cli); each has add_parser(sub) and run(args)
COMMANDS = {
    "train": "train",
    "presets": "presets",
    "sample": "sample",
    "metrics": "metrics_cmd",
}
# commands contributed by other parts of the studio; absent modules are skipped
OPTIONAL_COMMANDS = {
    "gui": "gui",
    "bench": "bench",
    "import-generator": "import_generator",
    "latent": "latent",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gan-studio",
        description="GAN Studio: train GANs and watch them learn. With no command, opens the window.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in {**COMMANDS, **OPTIONAL_COMMANDS}.items():
        try:
            module = importlib.import_module(f"gan_studio.cli.{mod}")
        except ModuleNotFoundError as e:
            if name in OPTIONAL_COMMANDS and e.name == f"gan_studio.cli.{mod}":
                continue
            raise
        sp = module.add_parser(sub)
        sp.set_defaults(_run=module.run)
    return p


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's input, reported as one line without a traceback."""
    from gan_studio.core.config import ConfigError
    from gan_studio.core.runs import CheckpointError, RunError
    errs: list[type[BaseException]] = [ConfigError, CheckpointError, RunError, FileNotFoundError]
    try:
        from gan_studio.core.image_data import DataError
        errs.append(DataError)
    except ImportError:
        pass
    return tuple(errs)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if "gui" in (parser._subparsers._group_actions[0].choices if parser._subparsers else {}):
            args = parser.parse_args(["gui"])
        else:
            parser.print_help()
            return 0
    try:
        return int(args._run(args) or 0)
    except user_errors() as e:
        print(f"gan-studio {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gan-studio {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

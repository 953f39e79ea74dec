"""The `gan-studio` command. Each sub-command lives in its own module with ``add_parser(sub)``
and ``run(args) -> int``; this module only wires them up and turns known errors into one line."""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import re
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
    "figure": "figure",
    "fork": "fork",
    "compare": "compare",
    "export": "export",
    "translate": "translate",
    "sweep": "sweep",
}


class CommandParser(argparse.ArgumentParser):
    """argparse with the CLI's manners (its sub-commands' parsers are of this class too):

    - a value that starts with a minus and a digit (``--size -5x10``, ``--a -1,3``, ``--steps -1e3``)
      is the option's value, which the command then checks and names in its own message; argparse
      knows only ``-5`` and ``-.5`` as values and said "expected one argument" of the others;
    - a bad command line is one line that says where the help is, as every other bad value is,
      not the usage block followed by the error;
    - an empty value (``sample "$RUN"`` with RUN unset) is refused by name: as a folder it would be the
      current one, as a file nothing, and an option given nothing was mostly taken as not given.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # no option of the CLI starts with a minus and a digit, so such a word is never one
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def _get_values(self, action, arg_strings):
        if "" in arg_strings and not isinstance(action, argparse._SubParsersAction):
            name = "/".join(action.option_strings) or action.metavar or action.dest
            self.error(f"argument {name}: the value is empty (an unset shell variable?)")
        return super()._get_values(action, arg_strings)

    def error(self, message: str):
        # the value argparse refused, quoted in its message, cut as core.errors.echo cuts ours
        message = re.sub(r"'([^']{60})[^']+'", r"'\1'...", message)
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser(
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


from gan_studio.core.errors import describe_os_error, file_in_the_way, user_errors  # noqa: E402,F401  (re-exported)


#: the exit status of a command whose stdout was closed under it (128 + SIGPIPE, as a shell reports it)
EXIT_STDOUT_CLOSED = 141


def main(argv: list[str] | None = None) -> int:
    """Run one command; known errors become one line and exit 2 (the input) or 1 (the machine). A stdout
    closed by its reader (``gan-studio metrics DIR | head -3``) ends the command quietly, with 141."""
    try:
        try:
            code = _main(argv)
        finally:
            if sys.stdout is not None:
                sys.stdout.flush()   # a closed pipe shows here, not as a message at interpreter exit
        return code
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_STDOUT_CLOSED
    except OSError as e:   # stdout on a full disk: what was printed is incomplete
        print(f"gan-studio: error: output not written: {describe_os_error(e)}", file=sys.stderr)
        return 1


def _main(argv: list[str] | None) -> int:
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
        _check_device_option(args)
        return int(args._run(args) or 0)
    except BrokenPipeError:
        if _stdout_gone():
            raise   # the reader of our output has gone (`| head`): main ends quietly
        print(f"gan-studio {args.command}: error: a pipe closed under it (Broken pipe)", file=sys.stderr)
        return 1
    except user_errors() as e:
        # an OSError's str() is "[Errno N] ...": describe it in words (FileNotFoundError, WriteError)
        text = describe_os_error(e) if isinstance(e, OSError) else _one_line(e)
        print(f"gan-studio {args.command}: error: {text}", file=sys.stderr)
        return 2
    except OSError as e:   # a full disk, a read-only or forbidden folder: the machine, not a bug
        print(f"gan-studio {args.command}: error: {describe_os_error(e)}", file=sys.stderr)
        # `--out notes.txt/x`, a folder where a file must be: the input, not the machine
        # or a path longer than the file system allows: the input too
        return 2 if file_in_the_way(e) or e.errno in (errno.EISDIR, errno.ENAMETOOLONG) else 1
    except RecursionError:   # input nested deeper than any parser can follow (a hostile file)
        print(f"gan-studio {args.command}: error: an input file is nested too deeply to be read",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gan-studio {args.command}: interrupted", file=sys.stderr)
        return 130


def _check_device_option(args) -> None:
    """--device (train, sample, latent, translate, fork, gui) checked before anything is read or
    built, its refusal said of the option the user typed, not of the config key it sets."""
    name = getattr(args, "device", None)
    if name is None:
        return
    from gan_studio.core.device import pick_device
    from gan_studio.core.errors import ConfigError
    try:
        pick_device(name)
    except ConfigError as e:
        raise ConfigError(str(e).replace("train.device", "--device", 1)) from None


def _stdout_gone() -> bool:
    """Whether stdout is a pipe (or socket) whose reader has gone, so a BrokenPipeError was ours to
    expect rather than one of a pipe the command opened itself. True where that cannot be told."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return True
    try:
        import select
        poller = select.poll()
        poller.register(fd, select.POLLOUT)   # POLLERR/POLLHUP are reported whatever is asked
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):   # no poll (Windows)
        return True


def _stdout_to_devnull() -> None:
    """Point the process's stdout at devnull, so what is still buffered is dropped quietly at exit
    (Python's recipe for SIGPIPE: https://docs.python.org/3/library/signal.html#note-on-sigpipe)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return   # not the process's stdout (a test's capture): nothing is flushed at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _one_line(e: BaseException) -> str:
    """The first non-empty line of an error's message (a message is promised to be one line)."""
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


if __name__ == "__main__":
    sys.exit(main())

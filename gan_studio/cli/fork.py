"""gan-studio fork RUN [--at STEP] [--set KEY=VALUE ...] --out DIR  |  gan-studio fork RUN --list"""
from __future__ import annotations

import sys

from gan_studio.core.config import parse_override
from gan_studio.core.errors import ConfigError


def add_parser(sub):
    p = sub.add_parser(
        "fork", help="branch a run at a kept step into a new run folder, with settings changed",
        description="Start a new run from the exact state of RUN at one of its kept steps (the last checkpoint, "
                    "or one of the last train.fork_keep evaluations): weights, optimisers, trick state, RNG and "
                    "the history up to that step. Without --set the fork trains on exactly as RUN did; with it, "
                    "the changes are applied at the branch step. RUN is only read. Continue the fork with "
                    "`gan-studio train --resume DIR --steps N`, compare with `gan-studio compare`.")
    p.add_argument("run", metavar="RUN", help="the run folder to fork")
    p.add_argument("--at", type=int, metavar="STEP", help="the step to branch at (default: the last checkpoint)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting changed at the branch step, e.g. --set tricks.packing.enabled=true "
                        "(repeatable; keys that change the networks or the data are refused)")
    p.add_argument("--out", metavar="DIR", help="the new run folder (new or empty)")
    p.add_argument("--device", help="where the changes are applied: auto, cpu, cuda, cuda:N or mps "
                                    "(default: the run's own)")
    p.add_argument("--list", action="store_true",
                   help="print the steps RUN can be forked at, one row each (the step first) with the run's losses "
                        "and last evaluation there and the live changes made between them, and stop")
    return p


def print_fork_table(states, after) -> None:
    """One row per kept step: the step first (``awk 'NR > 1 && !/^ / {print $1}'`` gives the bare steps), where
    the state is kept, the run's losses and last evaluation there; each live change on a line of its
    own between the rows it falls between."""
    from gan_studio.core.compare import text_table
    from gan_studio.core.events import event_text
    from gan_studio.core.metrics import format_value
    losses = list(dict.fromkeys(k for s in states for k in s.losses))
    metrics = list(dict.fromkeys(k for s in states for k in s.metrics))
    head = ["step", "kept as", *metrics, *losses]
    rows = []
    for s in states:
        kind = s.kind if s.metrics_step in (None, s.step) else f"{s.kind} (evaluation of {s.metrics_step})"
        rows.append([str(s.step), kind, *(format_value(s.metrics[k]) if k in s.metrics else "-" for k in metrics),
                     *(format_value(s.losses[k]) if k in s.losses else "-" for k in losses)])
    lines = text_table(head, rows, left=2)
    print(lines[0])
    for s, line in zip(states, lines[1:]):
        for e in s.changes:
            print(f"  change at {event_text(e)}")
        print(line)
    for e in after:
        print(f"  change at {event_text(e)} (after the last kept step: a fork at it does not have it)")


def run(args) -> int:
    from gan_studio.core.fork import fork_run, fork_table
    if args.list:
        states, after, problem = fork_table(args.run)
        if problem is not None and not states:
            raise problem   # nothing to fork from: the checkpoint's message says what to do
        print_fork_table(states, after)
        if problem is not None:   # a damaged checkpoint: the kept states are the way back
            first = str(problem).split("; ")[0]
            print(f"gan-studio fork: note: {first}; the steps above are states the run kept: "
                  f"fork one with `gan-studio fork {args.run} --at {states[-1].step} --out DIR`", file=sys.stderr)
        return 0
    if not args.out:
        raise ConfigError("name the new run folder with --out DIR")
    changes = dict(parse_override(text) for text in args.overrides)
    out = fork_run(args.run, args.out, args.at, changes, device=args.device)
    from gan_studio.core.runs import read_lineage
    step = (read_lineage(out) or {}).get("branch_step", "?")
    what = ", ".join(f"{k}={v}" for k, v in changes.items()) or "no change"
    print(f"forked {args.run} at step {step} into {out} ({what}); continue it with "
          f"`gan-studio train --resume {out} --steps N`", file=sys.stderr)
    return 0

"""gan-studio metrics DIR: the latest metrics of a run as a table."""
from __future__ import annotations

from gan_studio.core.metrics import format_value


def add_parser(sub):
    p = sub.add_parser("metrics", help="print the latest metrics of a run as a table",
                       description="Print the newest logged values of every metric in DIR/metrics.jsonl. "
                                   "With --classifiers, measure the image metrics of the run's generator now "
                                   "instead, once per metric classifier, side by side.")
    p.add_argument("run_dir", metavar="DIR", help="a run folder")
    p.add_argument("--classifiers", metavar="SEEDS", type=_seeds, default=None,
                   help="e.g. 0,1,2: the image metrics (fd_classifier, classes covered, ...) of 1,000 samples "
                        "of the run's last checkpoint as the metric classifiers of these seeds read them "
                        "(0 is the one the run logs; another is trained once, about a minute, and cached): "
                        "a figure that moves a lot between classifiers says more about the classifier than "
                        "the generator")
    return p


def _seeds(text: str) -> list[int]:
    """Classifier seeds, as ``--seeds`` parses them (core.bench.parse_seeds), except that one number is
    that seed, not a count."""
    import argparse

    from gan_studio.core.bench import parse_seeds
    from gan_studio.core.errors import ConfigError
    text = text.strip()
    try:
        return parse_seeds(f"{text}-{text}" if text.isdigit() else text)
    except ConfigError as e:   # parse_seeds names --seeds: keep its reason ('the range 5-2 runs backwards')
        reason = str(e).partition(": ")[2]
        why = "" if not reason or reason.startswith("use a count") else f"{reason}; "
        raise argparse.ArgumentTypeError(f"{text!r}: {why}give seeds as 0,1,2 or 0-2") from None


def print_table(row: dict, logged_at: dict[str, int] | None = None) -> None:
    """One line per value. ``logged_at``: the step of each value that is older than ``row["step"]`` (the
    mode metrics of the last evaluation, between evaluations), shown as ``(at step N)`` beside it."""
    logged_at = logged_at or {}
    width = max((len(k) for k in row), default=0)
    texts = {k: format_value(v) for k, v in row.items()}
    older = max((len(texts[k]) for k in logged_at if k in texts), default=0)
    for k, text in texts.items():
        if k in logged_at:
            print(f"{k:<{width}}  {text:<{older}}  (at step {logged_at[k]})")
        else:
            print(f"{k:<{width}}  {text}")


def run(args) -> int:
    from pathlib import Path

    from gan_studio.core.errors import RunError
    from gan_studio.core.runs import RunFolder
    path = Path(args.run_dir)
    log = path / "metrics.jsonl"
    if not log.is_file():   # say which: no folder, a run before its first row, a folder in the log's place
        if not path.is_dir():
            raise RunError(f"no run folder at {path}")
        if log.is_dir():
            raise RunError(f"{log} is a folder, where a file is needed")
        if (path / "config.json").is_file():
            raise RunError(f"{path} has no metrics.jsonl yet: no step of this run was logged")
        raise RunError(f"{path} has no metrics.jsonl: it is not a run folder")
    if args.classifiers is not None:
        return by_classifier(path, args.classifiers)
    rows = RunFolder(path, read_only=True).read_metrics()   # a reader: takes no lock, writes nothing
    if not rows:
        raise RunError(f"{path}/metrics.jsonl holds no rows yet")
    latest: dict = {}
    step_of: dict[str, int] = {}
    for r in rows:  # the newest value of each metric (mode metrics are logged less often)
        latest.update(r)
        step_of.update(dict.fromkeys(r, r.get("step")))
    step = latest["step"] = rows[-1].get("step")
    # an evaluation's values (modes, hq, ...) last logged before the newest row: say from which step
    logged_at = {k: s for k, s in step_of.items()
                 if k != "step" and isinstance(s, int) and isinstance(step, int) and s < step}
    print_table(latest, logged_at)
    return 0


def by_classifier(path, seeds: list[int]) -> int:
    """The run's image metrics measured now with each classifier: one column per classifier seed."""
    from gan_studio.core.errors import RunError
    from gan_studio.core.metrics.images import evaluate_images, label_heads
    from gan_studio.core.runs import trainer_from_run
    tr, _ = trainer_from_run(path)          # read-only: nothing in the folder changes
    if not label_heads(tr.data):
        raise RunError(f"{path} trains on {tr.cfg.data.name!r}, which has no labels: there are no image "
                       "metrics to measure with a classifier (its mode metrics need none)")
    columns = {seed: evaluate_images(tr, classifier_seed=seed) for seed in seeds}
    names = list(dict.fromkeys(k for col in columns.values() for k in col))
    head = [f"classifier {seed}" for seed in seeds]
    width = max(len(k) for k in names + ["metric"])
    cells = [[format_value(columns[s].get(k, "")) for s in seeds] for k in names]
    col_w = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(head)]
    print(f"{tr.cfg.data.name}, step {tr.step_count}: 1,000 samples read by each metric classifier "
          "(0 is the one the run logs)")
    print(f"{'metric':<{width}}  " + "  ".join(f"{h:>{w}}" for h, w in zip(head, col_w)))
    for k, row in zip(names, cells):
        print(f"{k:<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(row, col_w)))
    return 0

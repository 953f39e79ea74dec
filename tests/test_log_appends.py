"""The run's logs (metrics.jsonl, events.jsonl) lose no row to a write that was cut: a full disk
mid-row takes back the half row and says which file; a row cut by a crash is ended before the next
row is appended, so only the cut row is skipped by readers, not the one after it as well."""
import errno
import io

import pytest

from cli_helpers import cli
from engine_helpers import engine_with_run, tiny_cfg, train
from gan_studio.core import runs
from gan_studio.core.errors import WriteError
from gan_studio.core.runs import RunFolder
from gan_studio.core.training.run_loop import RunLoop
from gan_studio.core.training.trainer import Trainer

TINY = ["--set", "model.g_width=16", "--set", "model.d_width=16", "--set", "train.batch_size=32",
        "--set", "train.log_every=10", "--set", "train.eval_every=1000", "--set", "train.checkpoint_every=10",
        "--set", "train.snapshot_every=1000", "--device", "cpu", "--quiet"]


class _HalfWrite(io.BufferedRandom):
    """A file whose next write puts half its bytes on the disk and then finds it full."""

    def write(self, data):
        super().write(data[:len(data) // 2])
        self.flush()
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def disk_full_at(monkeypatch):
    """disk_full_at(name, step): the first append of ``name``'s row of ``step`` runs out of space halfway."""
    def arm(name: str, step: int):
        real_append, armed = RunFolder._append, [True]

        def append(self, file, row):
            if armed and file == name and row.get("step") == step:
                armed.clear()
                def half_open(path, mode="r", *a, encoding=None, **k):
                    raw = _HalfWrite(io.FileIO(path, mode.replace("b", "").replace("+", "") + "+"))
                    return raw if "b" in mode else io.TextIOWrapper(raw, encoding=encoding)
                monkeypatch.setattr(runs, "open", half_open, raising=False)
                try:
                    return real_append(self, file, row)
                finally:
                    monkeypatch.delattr(runs, "open", raising=False)
            return real_append(self, file, row)
        monkeypatch.setattr(RunFolder, "_append", append)
    return arm


def test_disk_full_while_logging_names_the_file_and_the_rows_after_are_kept(tmp_path, disk_full_at):
    tr = Trainer(tiny_cfg())
    run = RunFolder.create(tmp_path / "r", tr.cfg)
    loop = RunLoop(tr, run)
    disk_full_at("metrics.jsonl", 20)
    with pytest.raises(WriteError, match=r"disk full while writing .*metrics\.jsonl: the rows before this one are kept"):
        for _ in range(20):
            loop.advance()
    # space was freed; the window's engine trains on (Start) from the step it reached
    for _ in range(20):
        loop.advance()
    assert [r["step"] for r in run.read_metrics()] == [10, 30, 40]
    text = (tmp_path / "r" / "metrics.jsonl").read_text()
    assert all(line.startswith("{") and line.endswith("}") for line in text.splitlines()), text


def test_cli_disk_full_while_logging_is_one_line_naming_the_file(tmp_path, capsys, disk_full_at):
    disk_full_at("metrics.jsonl", 20)
    rc, _, err = cli(capsys, "train", "ring8", "--steps", "30", "--out", tmp_path / "r", *TINY)
    assert rc == 2 and "Traceback" not in err, err
    # the WriteError's own words, which say what is kept (describe_os_error dropped that half)
    assert err.strip().splitlines()[-1] == (f"gan-studio train: error: disk full while writing "
                                            f"{tmp_path / 'r' / 'metrics.jsonl'}: the rows before this one are kept")
    assert (tmp_path / "r" / "metrics.jsonl").read_text().count("\n") == 1   # step 10's row, whole


def test_a_row_appended_after_a_row_cut_by_a_crash_is_read(tmp_path):
    run = RunFolder.create(tmp_path / "r", tiny_cfg())
    run.append_metrics({"step": 10, "loss_d": 1.0})
    with open(tmp_path / "r" / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 20, "loss_d": 0.')   # the process was killed mid-row
    run.append_metrics({"step": 30, "loss_d": 0.5})
    run.append_event({"step": 30, "event": "set", "key": "train.lr_d", "value": 0.001})
    assert [(r["step"], r["loss_d"]) for r in run.read_metrics()] == [(10, 1.0), (30, 0.5)]
    assert [e["step"] for e in run.read_events()] == [30]


def test_a_setting_changed_while_the_disk_is_full_is_in_force_not_refused_and_logged_later(tmp_path, disk_full_at):
    from gan_studio.session import protocol as P
    engine, replies = engine_with_run(tmp_path, tiny_cfg())
    disk_full_at("events.jsonl", 0)   # the change's line in the log: the disk is full
    P.dispatch(engine, P.SetSetting("train.lr_d", 0.0005), replies.append)
    # it was applied: the window must not show it refused (the old code said SettingRefused, and the
    # plots got no mark of the change, while D trained at the new rate)
    assert not [r for r in replies if isinstance(r, (P.SettingRefused, P.Failed))], replies
    assert engine._tr.opt_d.param_groups[0]["lr"] == 0.0005
    assert [e["key"] for e in engine._events if e["event"] == "set"] == ["train.lr_d"]
    # space is back: the change is logged before the next row
    train(engine, 10)
    run = engine._run
    assert [(e["event"], e.get("key")) for e in run.read_events()] == [("set", "train.lr_d")]
    engine._finish_run()

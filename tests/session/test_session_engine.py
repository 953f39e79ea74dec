"""The engine in a thread on a tiny model: it trains and answers each command (no Qt, no window)."""
from __future__ import annotations

import json
import operator
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_config
from gan_studio.core.runs import load_checkpoint_file
from gan_studio.session import protocol as P
from gan_studio.session.payloads import METRIC_COLUMNS

STEP = operator.attrgetter("step_count")


def logged_steps(run_path: str) -> list[int]:
    lines = (Path(run_path) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines if line.strip()]


def test_the_engine_trains_and_answers_each_command(drive):
    d = drive()
    info = d.wait_for(P.Opened).info
    assert info.step == 0 and info.config.data.name == "ring8" and info.modes.shape == (8, 2)

    d.client.send(P.SetSpeed(1))                       # a Frame every step
    d.client.send(P.RunSteps(6))                       # Step once is RunSteps(1)
    assert d.wait_for(P.TargetReached).step == 6
    rows = np.concatenate([r.report.metrics for r in d.replies if isinstance(r, P.Progress)])
    assert list(rows[:, 0]) == [1, 2, 3, 4, 5, 6] and rows.shape[1] == len(METRIC_COLUMNS)
    frame = [r.report.frame for r in d.replies if isinstance(r, P.Progress) and r.report.frame][-1]
    assert frame.step == 6 and frame.fake.shape == (1000, 2) and frame.heat.dtype == np.uint8
    assert d.ask(P.Call(STEP)) == 6
    assert d.ask(P.Call(lambda tr: tr.step_count + 1)) == 7   # in a thread, any closure travels

    d.client.send(P.SetSetting("tricks.label_smoothing.enabled", True))
    d.client.send(P.SetSetting("train.lr_g", 7))        # lr must be <= 1
    refused = d.wait_for(P.SettingRefused)
    assert refused.key == "train.lr_g" and "out of range" in refused.why
    assert d.ask(P.Call(operator.attrgetter("cfg.tricks.label_smoothing.enabled"))) is True
    assert d.ask(P.Call(operator.attrgetter("cfg.train.lr_g"))) == 1e-3

    d.client.send(P.Start())
    assert d.wait_for(P.RunningChanged).running is True
    d.wait_for(P.Progress, lambda r: r.report.step >= 12)
    d.client.send(P.Pause())
    assert d.wait_for(P.RunningChanged).running is False
    paused_at = d.ask(P.Call(STEP))
    assert paused_at >= 12 and d.ask(P.Call(STEP)) == paused_at   # paused stays paused
    switched = [e for r in d.replies if isinstance(r, P.Progress) for e in r.report.events
                if e.get("key") == "tricks.label_smoothing.enabled"]
    assert switched and switched[0]["step"] == 6

    d.client.send(P.RequestFrame())
    assert d.wait_for(P.Progress, lambda r: r.report.frame is not None and r.report.step == paused_at)

    d.client.send(P.Save())
    saved = d.wait_for(P.Saved).run_path
    assert saved == info.run_path and load_checkpoint_file(Path(saved) / "checkpoint.pt")["step"] == paused_at

    with pytest.raises(AttributeError):   # a request that fails answers with its error
        d.ask(P.RenderCaption("a red circle"))   # not a StackGAN: it has no captions
    assert d.ask(P.Call(STEP)) == paused_at       # ... and the engine goes on

    d.client.send("run")                           # not a command: an error reply, not a crash
    assert "unknown command" in d.wait_for(P.Failed).message
    assert d.ask(P.Call(STEP)) == paused_at

    d.stop()                                       # Shutdown: the run is saved, the engine ends
    assert d.replies[-1] == P.Saved(info.run_path)
    assert logged_steps(info.run_path)[-1] == paused_at
    assert not d.client.transport._thread.is_alive()


def test_new_and_open_replace_the_run_and_render_latents_draws_tiles(drive, tmp_path):
    cfg = tiny_config("shapes", **{"data.image_size": 16, "data.num_images": 64, "model.latent_dim": 4,
                                   "model.ngf": 4, "model.ndf": 4, "train.batch_size": 8})
    d = drive(P.New(cfg))
    first = d.wait_for(P.Opened).info
    assert first.is_image
    d.client.send(P.RunSteps(2))
    d.wait_for(P.TargetReached)
    z = np.zeros((3, 4), np.float32)
    step, tiles = d.ask(P.RenderLatents(z))
    assert step == 2 and tiles.shape == (3, 16, 16, 3) and tiles.dtype == np.uint8
    assert (tiles[0] == tiles[1]).all()                      # the same latent, the same image

    d.client.send(P.New(tiny_config()))                      # the image run is saved first
    assert d.wait_for(P.Saved).run_path == first.run_path
    second = d.wait_for(P.Opened).info
    assert second.run_path != first.run_path and not second.is_image

    d.client.send(P.Open(first.run_path))                    # back to the saved run, read-only
    reopened = d.wait_for(P.Opened, lambda r: r.info.run_path == first.run_path).info
    assert reopened.step == 2 and d.ask(P.Call(STEP)) == 2
    d.client.send(P.Open(str(tmp_path / "nowhere")))         # a run that is not there: one line
    assert "nowhere" in d.wait_for(P.Failed).message
    assert d.ask(P.Call(STEP)) == 2                          # the open run stays


def test_the_frame_budget_is_set_within_its_bounds(tmp_path):
    """SetFrameBudget: the share of the engine's time Frames may take, kept within FRAME_BUDGET_RANGE
    (a NaN gives back the default); the serve loop spaces Frames by cost / budget."""
    import queue

    from gan_studio.session.engine import FRAME_BUDGET, FRAME_BUDGET_RANGE, TrainingEngine
    e = TrainingEngine(tmp_path, None, queue.SimpleQueue(), lambda reply: None)
    assert e.frame_budget == FRAME_BUDGET
    P.dispatch(e, P.SetFrameBudget(0.02), e.reply)
    assert e.frame_budget == 0.02
    e.set_frame_budget(P.SetFrameBudget(5.0))
    assert e.frame_budget == FRAME_BUDGET_RANGE[1]
    e.set_frame_budget(P.SetFrameBudget(0.0))
    assert e.frame_budget == FRAME_BUDGET_RANGE[0]
    e.set_frame_budget(P.SetFrameBudget(float("nan")))
    assert e.frame_budget == FRAME_BUDGET

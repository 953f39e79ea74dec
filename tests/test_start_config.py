"""A run folder's config.json holds the config the folder started from (a run's first step, a fork's
branch step); live changes are in events.jsonl on top of it. A config.json written again from the
checkpoint (cut or deleted by hand) keeps that meaning: the checkpoint's live config with the changes
since the start undone, not the live config itself."""
from __future__ import annotations

import json

import pytest

from gan_studio.cli import main
from gan_studio.core.config import Config
from gan_studio.core.runs import start_config

TINY = ["--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "model.latent_dim=2",
        "--set", "model.g_depth=1", "--set", "model.d_depth=1", "--set", "train.batch_size=8",
        "--set", "train.checkpoint_every=2", "--quiet"]


def run_cli(*argv) -> int:
    return main([str(a) for a in argv])


def live_config(run) -> Config:
    import torch
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    return Config.from_dict(json.loads(state["config_json"]))


def test_start_config_undoes_live_changes_newest_first():
    live = Config()
    live.set("train.lr_d", 4e-4)
    live.set("tricks.packing.enabled", True)
    events = [{"step": 3, "event": "set", "key": "train.lr_d", "value": 2e-4, "old": 1e-3},
              {"step": 5, "event": "rollback", "to": 4},
              {"step": 7, "event": "set", "key": "train.lr_d", "value": 4e-4, "old": 2e-4},
              {"step": 9, "event": "set", "key": "tricks.packing.enabled", "value": True, "old": False}]
    start = start_config(live, events)
    assert start.train.lr_d == 1e-3 and start.tricks.packing.enabled is False
    assert live.train.lr_d == 4e-4                                    # the live config is not touched
    after_branch = start_config(live, events, held=3)                  # a fork whose config holds 3 events
    assert after_branch.train.lr_d == 4e-4 and after_branch.tricks.packing.enabled is False


@pytest.mark.parametrize("broken", [
    {"step": 2, "event": "set", "key": "train.lr_d", "value": 2e-4},               # no old value
    {"step": 2, "event": "set", "key": "train.no_such_key", "value": 1, "old": 0},  # not a key
    {"step": 2, "event": "set", "key": "train.lr_d", "value": 2e-4, "old": -1.0},   # a value it refuses
    {"step": 2, "event": "set", "key": ["train", "lr_d"], "value": 2e-4, "old": 1e-3},
])
def test_an_event_that_cannot_be_undone_falls_back_to_the_live_config(broken):
    live = Config()
    live.set("train.lr_d", 2e-4)
    assert start_config(live, [broken]) == live


@pytest.mark.parametrize("how", ["deleted", "cut"])
def test_a_run_s_config_json_written_again_is_its_start_config(tmp_path, capsys, how):
    run = tmp_path / "run"
    assert run_cli("train", "ring8", "--steps", "2", "--out", run, *TINY) == 0
    started = (run / "config.json").read_text()
    assert run_cli("train", "--resume", run, "--steps", "2", "--set", "tricks.packing.enabled=true",
                   "--set", "train.lr_d=0.0004", "--quiet") == 0
    assert live_config(run).tricks.packing.enabled and live_config(run).train.lr_d == 4e-4
    if how == "deleted":
        (run / "config.json").unlink()
    else:
        (run / "config.json").write_text(started[: len(started) // 2])
    assert run_cli("train", "--resume", run, "--steps", "2", "--quiet") == 0
    assert "written again from the checkpoint" in capsys.readouterr().err
    assert Config.load(run / "config.json") == Config.from_dict(json.loads(started))
    assert live_config(run).tricks.packing.enabled   # the run itself trained on with its changes


def test_a_fork_s_config_json_written_again_is_its_config_at_the_branch(tmp_path, capsys):
    parent, fork = tmp_path / "parent", tmp_path / "fork"
    assert run_cli("train", "ring8", "--steps", "2", "--out", parent, *TINY) == 0
    assert run_cli("train", "--resume", parent, "--steps", "2", "--set", "train.lr_g=0.0005", "--quiet") == 0
    assert run_cli("fork", parent, "--out", fork, "--set", "tricks.label_smoothing.enabled=true") == 0
    at_branch = Config.load(fork / "config.json")
    assert at_branch.train.lr_g == 5e-4 and at_branch.tricks.label_smoothing.enabled   # the parent's change and its own
    assert run_cli("train", "--resume", fork, "--steps", "2", "--set", "train.lr_d=0.0003", "--quiet") == 0
    (fork / "config.json").unlink()
    assert run_cli("train", "--resume", fork, "--steps", "2", "--quiet") == 0
    capsys.readouterr()
    assert Config.load(fork / "config.json") == at_branch
    assert live_config(fork).train.lr_d == 3e-4


@pytest.mark.parametrize("lineage, held", [
    ({"branch_step": 4}, 2),                                  # a fork from before the count was kept
    ({"branch_step": 4, "events_at_branch": 1}, 1),
    ({"branch_step": 4, "events_at_branch": 99}, 2),          # more than there are: the step rule
    ({"branch_step": 4, "events_at_branch": -1}, 2),
    ({"branch_step": 4, "events_at_branch": True}, 2),
    ({"branch_step": 4, "events_at_branch": "1"}, 2),
    ({"branch_step": "4"}, 0),                                # not a lineage: read as a run
])
def test_the_events_a_fork_s_config_json_holds(tmp_path, lineage, held):
    from gan_studio.core.runs import LINEAGE, held_events
    events = [{"step": 2, "event": "set", "key": "train.lr_g", "value": 5e-4, "old": 1e-3},
              {"step": 4, "event": "set", "key": "train.lr_d", "value": 3e-4, "old": 2e-3},
              {"step": 6, "event": "set", "key": "train.lr_d", "value": 1e-4, "old": 3e-4}]
    (tmp_path / LINEAGE).write_text(json.dumps(lineage))
    assert held_events(tmp_path, events) == held
    assert held_events(tmp_path / "no-such-folder", events) == 0

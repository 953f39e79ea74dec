"""Exact resume for every trick, alone and all together, at a step past the replay buffer's wrap:
N steps in one go and N/2 + checkpoint in a run folder + trainer_from_run + N/2 give the same
tensors bit for bit (G, D, both optimisers, trick state, RNG)."""
import pytest
import torch

from gan_studio.core.config import Config, TricksConfig
from gan_studio.core.runs import RunFolder, trainer_from_run
from gan_studio.core.training.trainer import Trainer
from gan_studio.core.training.tricks import ALL_TRICKS

#: every test runs with the fast paths (core/fast) on and off (the fast_paths fixture in conftest.py)
pytestmark = pytest.mark.usefixtures("fast_paths")

N = 16            # steps in all; the checkpoint is taken at N/2
BATCH = 16
REPLAY = {"buffer_size": 12, "fraction": 0.25}   # 4 fakes a step: the ring wraps at step 3
WRAP_STEP = REPLAY["buffer_size"] // round(REPLAY["fraction"] * BATCH)

# settings that make each trick do something within N steps (a trick not listed runs with its
# defaults: a new trick in the registry is tested without touching this file)
SETTINGS = {
    "normalization": {"d": "virtual-batch", "g": "batch", "reference_size": 8},
    "minibatch_discrimination": {"kernels": 4, "kernel_dim": 3},
    "instance_noise": {"sigma": 0.2, "anneal_steps": N},                 # the schedule crosses N/2
    "replay": REPLAY,
    "checkpoint_swap": {"interval": 3, "duration": 2, "snapshots": 2},    # a swap is in at N/2
    "unrolled": {"k": 2},
    "two_time_scale": {"d_steps": 2},
    "g_ema": {"decay": 0.9},
    "feature_matching": {"replace_loss": False},
}
#: tricks left out of "all together", and why
INCOMPATIBLE: dict[str, str] = {}

TRICK_NAMES = [cls.name for cls in ALL_TRICKS]


def test_the_registry_covers_every_trick_of_the_config():
    assert sorted(TRICK_NAMES) == sorted(TricksConfig.__dataclass_fields__)
    assert N // 2 > WRAP_STEP   # the checkpoint is taken after the replay ring wrapped


def cfg_with(tricks, **train) -> Config:
    cfg = Config()
    for k, v in {"model.g_width": 8, "model.d_width": 8, "model.g_depth": 2, "model.d_depth": 2,
                 "train.batch_size": BATCH, "train.device": "cpu", **train}.items():
        cfg.set(k, v)
    for name in tricks:
        cfg.set(f"tricks.{name}.enabled", True)
        for k, v in SETTINGS.get(name, {}).items():
            cfg.set(f"tricks.{name}.{k}", v)
    return cfg


def assert_same(a, b, where="state"):
    """Every tensor bit for bit, every plain value equal, through nested dicts and lists."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a.cpu(), b.cpu()), f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(map(str, set(a) ^ set(b)))}"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: lengths"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}.{i}")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def check_exact_resume(cfg: Config, tmp_path) -> None:
    straight = Trainer(cfg.copy())
    for _ in range(N):
        straight.step()

    first = Trainer(cfg.copy())
    for _ in range(N // 2):
        first.step()
    run = RunFolder.create(tmp_path / "run", first.cfg)
    run.save_checkpoint(first)
    del first
    resumed, _ = trainer_from_run(tmp_path / "run")
    assert resumed.step_count == N // 2
    for _ in range(N - N // 2):
        resumed.step()

    a, b = straight.state_dict(), resumed.state_dict()
    for key in ("G", "D", "opt_g", "opt_d", "rng", "extra", "step", "events_json"):
        assert_same(a[key], b[key], key)


@pytest.mark.parametrize("trick", TRICK_NAMES)
def test_each_trick_resumes_exactly_after_the_replay_ring_wrapped(trick, tmp_path):
    check_exact_resume(cfg_with([trick]), tmp_path)


def test_replay_alone_resumes_exactly_after_its_ring_wrapped(tmp_path):
    cfg = cfg_with(["replay"])
    tr = Trainer(cfg.copy())
    for _ in range(N // 2):
        tr.step()
    assert tr.tricks.replay.filled == REPLAY["buffer_size"] and tr.tricks.replay.next != 0  # wrapped
    check_exact_resume(cfg, tmp_path)


def test_all_tricks_together_resume_exactly(tmp_path):
    check_exact_resume(cfg_with([n for n in TRICK_NAMES if n not in INCOMPATIBLE]), tmp_path)


def test_learning_rate_decay_resumes_exactly(tmp_path):
    # the linear decay runs across the checkpoint, with replay wrapped
    check_exact_resume(cfg_with(["replay"], **{"train.lr_decay_start": 4, "train.lr_decay_steps": 8}), tmp_path)

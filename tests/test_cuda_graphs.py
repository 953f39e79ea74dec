"""train.cuda_graphs: the plain step captured once and replayed (core/training/graphs.py).

On the CPU the bookkeeping is tested with a stand-in for CUDA graphs that "records" the step the
way CUDA does (the Python code runs, the tensors are left as they were) and "replays" it by running
it: warm-up, capture, replay, a new capture when a rate changes, the eager step while a trick is
on, a loaded state dropping the graph, a failed capture. Where there is a CUDA GPU, the real graphs
are checked against the eager step (the same numbers) and for a resumed run."""
import copy

import pytest
import torch

from gan_studio.core.config import Config
from gan_studio.core.training.graphs import WARMUP, StepGraph
from gan_studio.core.training.trainer import Trainer


def ring_cfg(**kv) -> Config:
    cfg = Config()
    for k, v in {"data.name": "ring8", "train.batch_size": 64, "model.g_width": 32, "model.d_width": 32,
                 "train.device": "cpu", **kv}.items():
        cfg.set(k, v)
    return cfg


class Recorder:
    """CUDA graphs' behaviour on the CPU: capture runs the Python code of the step but leaves every
    tensor (weights, optimiser state, generator) as it was; replay runs the step."""

    def __init__(self, fail: bool = False):
        self.fail = fail

    @staticmethod
    def usable(tr) -> bool:
        return True

    @staticmethod
    def warmup(body):
        return body()

    def capture(self, body, tr):
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        tensors = [t for net in (tr.G, tr.D) for t in net.state_dict(keep_vars=True).values()]
        tensors += [v for opt in (tr.opt_g, tr.opt_d) for st in opt.state.values() for v in st.values()
                    if isinstance(v, torch.Tensor)]
        saved, rng = [t.detach().clone() for t in tensors], tr.rng.get_state()
        grads = {p: p.grad for net in (tr.G, tr.D) for p in net.parameters()}
        metrics = body()   # "recorded": what it did to the tensors is undone below
        with torch.no_grad():
            for t, s in zip(tensors, saved):
                t.copy_(s)
        tr.rng.set_state(rng)
        for p, g in grads.items():
            p.grad = g
        out = metrics.values.clone()

        def replay():
            count, last, n = tr.step_count, tr.last_metrics, len(tr.events)
            out.copy_(body().values)
            tr.step_count, tr._last_metrics = count, last
            del tr.events[n:]
        return replay, out


def graphed(cfg: Config, backend=None) -> Trainer:
    tr = Trainer(cfg)
    tr.graphs = StepGraph(tr, backend or Recorder())
    return tr


def around_a_change(trainers, key: str, value, n: int) -> None:
    """Each trainer: n steps, a live change of ``key``, n more steps."""
    for tr in trainers:
        for _ in range(n):
            tr.step()
        tr.apply_setting(key, value)
        for _ in range(n):
            tr.step()


def same_state(a: Trainer, b: Trainer) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(x, y) for k in ("G", "D") for x, y in zip(sa[k].values(), sb[k].values()))


def test_warmup_capture_replay_give_the_eager_numbers_and_count_steps():
    eager, g = Trainer(ring_cfg()), graphed(ring_cfg())
    for i in range(WARMUP + 5):
        me, mg = eager.step(), g.step()
        assert mg.step == me.step == i + 1 == g.step_count
        assert torch.equal(me.values, mg.values), i
    assert g.graphs.captures == 1 and g.graphs.replays == 5
    assert same_state(eager, g)
    assert not [e for e in g.events if e["event"] == "cuda_graphs_off"]


def test_replayed_metrics_are_a_copy_that_the_next_replay_does_not_overwrite():
    g = graphed(ring_cfg())
    ms = [g.step() for _ in range(WARMUP + 3)]
    kept = [m.values.clone() for m in ms]
    g.step()
    assert all(torch.equal(m.values, k) for m, k in zip(ms, kept))
    assert ms[-1].values.data_ptr() != g.graphs.out.data_ptr()


def test_a_live_rate_change_is_captured_again_and_matches_eager():
    eager, g = Trainer(ring_cfg()), graphed(ring_cfg())
    around_a_change((eager, g), "train.lr_d", 5e-4, WARMUP + 2)
    assert g.graphs.captures == 2 and g.opt_d.param_groups[0]["lr"] == 5e-4
    assert same_state(eager, g)


def test_a_trick_switched_on_runs_the_eager_step_and_off_again_captures_anew():
    g = graphed(ring_cfg())
    for _ in range(WARMUP + 1):
        g.step()
    replays = g.graphs.replays
    g.apply_setting("tricks.label_smoothing.enabled", True)
    for _ in range(4):
        g.step()
    assert g.graphs.replays == replays and g.graphs.replay_fn is None
    g.apply_setting("tricks.label_smoothing.enabled", False)
    for _ in range(WARMUP + 2):
        g.step()
    assert g.graphs.captures == 2 and g.graphs.replays == replays + 2


def test_no_capture_while_a_switched_off_trick_still_fades_out():
    g = graphed(ring_cfg(**{"tricks.packing.enabled": True, "train.switch_fade_steps": 6}))
    for _ in range(3):
        g.step()
    g.apply_setting("tricks.packing.enabled", False)   # packing fades out over 6 steps: no trick on, still no graph
    for _ in range(5):
        g.step()
    assert g.graphs.captures == 0 and g.graphs.warm == 0
    for _ in range(WARMUP + 3):
        g.step()
    assert g.graphs.captures == 1 and g.graphs.replays >= 1


@pytest.mark.parametrize("change", ["train.cuda_graphs", "loss", "lr_decay"])
def test_settings_that_rule_graphs_out(change):
    kv = {"train.cuda_graphs": "off"} if change == "train.cuda_graphs" else \
         {"loss": "wgan-gp"} if change == "loss" else {"train.lr_decay_start": 1, "train.lr_decay_steps": 100}
    g = graphed(ring_cfg(**kv))
    for _ in range(WARMUP + 3):
        g.step()
    assert g.graphs.captures == 0 and g.graphs.replays == 0


def test_a_loaded_state_drops_the_graph_and_the_run_continues_exactly():
    straight = graphed(ring_cfg())
    for _ in range(2 * WARMUP + 6):
        straight.step()
    a = graphed(ring_cfg())
    for _ in range(WARMUP + 3):
        a.step()
    state = copy.deepcopy(a.state_dict())
    b = graphed(ring_cfg())
    b.load_state_dict(state)
    for tr in (a, b):
        captures = tr.graphs.captures
        tr.load_state_dict(copy.deepcopy(state))   # a rollback, or a resume
        assert tr.graphs.replay_fn is None
        for _ in range(WARMUP + 3):
            tr.step()
        assert tr.graphs.captures == captures + 1
        assert tr.step_count == straight.step_count and same_state(straight, tr)


def test_a_failed_capture_is_an_event_and_training_goes_on_eagerly():
    eager, g = Trainer(ring_cfg()), graphed(ring_cfg(), Recorder(fail=True))
    for _ in range(WARMUP + 4):
        eager.step()
        g.step()
    assert g.step_count == WARMUP + 4 and same_state(eager, g)
    off = [e for e in g.events if e["event"] == "cuda_graphs_off"]
    assert len(off) == 1 and "capturing" in off[0]["why"] and g.graphs.failed


def test_switching_graphs_off_live_takes_effect_at_the_next_step():
    g = graphed(ring_cfg())
    for _ in range(WARMUP + 2):
        g.step()
    assert g.graphs.replays == 2
    g.apply_setting("train.cuda_graphs", "off")   # live: no Reset needed
    for _ in range(3):
        g.step()
    assert g.graphs.replays == 2 and g.graphs.replay_fn is None
    assert [e for e in g.events if e["event"] == "set"][-1]["key"] == "train.cuda_graphs"


def test_no_graphs_on_the_cpu_without_a_stand_in():
    assert Trainer(ring_cfg()).graphs is None


# -- the real thing, where there is a CUDA GPU ------------------------------------------------------
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def cuda_cfg(kind: str, graphs: str) -> Config:
    if kind == "ring8":
        return ring_cfg(**{"train.device": "cuda", "train.cuda_graphs": graphs})
    cfg = Config()
    for k, v in {"data.name": "shapes", "data.image_size": 32, "data.num_images": 512, "model.arch": "dcgan",
                 "model.latent_dim": 16, "model.ngf": 16, "model.ndf": 16, "train.batch_size": 32,
                 "train.device": "cuda", "train.cuda_graphs": graphs}.items():
        cfg.set(k, v)
    return cfg


@cuda
@pytest.mark.parametrize("kind", ["ring8", "dcgan"])
def test_cuda_graph_steps_equal_eager_steps(kind):
    eager, g = Trainer(cuda_cfg(kind, "off")), Trainer(cuda_cfg(kind, "auto"))
    assert eager.graphs is not None and g.graphs is not None
    around_a_change((eager, g), "train.lr_g", 3e-4, WARMUP + 5)
    assert g.graphs.captures == 2 and g.graphs.replays == 10 and eager.graphs.replays == 0
    me, mg = eager.last_metrics.as_dict(), g.last_metrics.as_dict()
    assert me == pytest.approx(mg, rel=1e-4, abs=1e-5)
    for x, y in zip(eager.G.parameters(), g.G.parameters()):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)


@cuda
def test_cuda_graphs_resume_exactly():
    straight = Trainer(cuda_cfg("ring8", "auto"))
    for _ in range(20):
        straight.step()
    a = Trainer(cuda_cfg("ring8", "auto"))
    for _ in range(10):
        a.step()
    b = Trainer(cuda_cfg("ring8", "auto"))
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    for _ in range(10):
        b.step()
    assert b.graphs.replays > 0
    assert straight.last_metrics.as_dict() == b.last_metrics.as_dict()
    assert same_state(straight, b)

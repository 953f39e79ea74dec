"""A sample value for every field name of the protocol's messages (test_session_protocol.py builds
each message from these; a message with a new field fails until it has a sample here)."""
from __future__ import annotations

import functools
import operator

import numpy as np

from gan_studio.core.presets import load_preset
from gan_studio.session.payloads import METRIC_COLUMNS, Frame, Report, RunInfo

_config = load_preset("ring8")

SAMPLES = {
    # commands
    "n": 3,
    "key": "tricks.label_smoothing.enabled",
    "value": True,
    "steps_between_frames": 5,
    "share": 0.02,
    "config": _config,
    "path": "/runs/ring8-1",
    "fn": functools.partial(operator.getitem, [1, 2]),
    "z": np.arange(12, dtype=np.float32).reshape(3, 4),
    "label": 7,
    "text": "a small red circle",
    "request_id": 11,
    "out_dir": "/runs/ring8-1-fork30",
    "changes": {"tricks.packing.enabled": True, "train.lr_g": 5e-4},
    # replies
    "info": RunInfo(config=_config, run_path="/runs/ring8-1", device_name="CPU", step=40, is_image=False,
                    real=np.zeros((5, 2), np.float32), modes=np.ones((8, 2), np.float32), sigma=0.02,
                    bounds=(-1.0, 1.0, -1.0, 1.0), history=np.full((2, len(METRIC_COLUMNS)), np.nan),
                    eval_history=[{"step": 20, "modes": 3}], events=[{"event": "set", "step": 10}]),
    "report": Report(step=40, running=True, steps_per_s=12.5, elapsed_s=3.2,
                     metrics=np.arange(3 * len(METRIC_COLUMNS), dtype=np.float64).reshape(3, -1),
                     events=[{"event": "set", "key": "train.lr_d", "value": 2e-4, "step": 39}],
                     frame=Frame(step=40, fake=np.zeros((4, 2), np.float32), heat=np.zeros((2, 2), np.uint8),
                                 heat_range=(-1.0, 2.0), arrows=np.zeros((2, 4), np.float32),
                                 evaluation={"modes": 8, "mode_counts": [1] * 8}),
                     last_eval={"step": 40, "modes": 8}, evals=[{"step": 40, "modes": 8}]),
    "running": True,
    "message": "NaN in D's loss: rolled back to step 30",
    "step": 30,
    "why": "out of range",
    "run_path": "/runs/ring8-1",
    "steps": (250, 500, 750),
    "domain": "a",
    "index": 3,
    "error": ValueError("no such word: dodecahedron"),
}

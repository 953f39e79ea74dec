"""The window's engine pauses a run whose files cannot be written (a file where the snapshots
folder goes, a full disk) with one line in words, and trains on from the same step once the
trouble is gone."""
from engine_helpers import engine_with_run, tiny_cfg, train
from gan_studio.core.runs import load_checkpoint_file
from gan_studio.session import protocol as P


def saved_every_10():
    """A tiny run logged every 5 steps, evaluated, pictured and saved every 10."""
    return tiny_cfg({"train.log_every": 5, "train.eval_every": 10, "train.snapshot_every": 10,
                     "train.checkpoint_every": 10})


def test_a_file_where_the_snapshots_go_pauses_in_words_and_training_goes_on_once_it_is_moved(tmp_path):
    engine, replies = engine_with_run(tmp_path, saved_every_10())
    run = engine._run.path
    (run / "snapshots").write_text("notes")
    train(engine, 30)
    failed = [r.message for r in replies if isinstance(r, P.Failed)]
    # it said "training stopped at step 10: FileExistsError: [Errno 17] File exists: '.../snapshots'"
    assert failed == [f"training paused at step 10: {run / 'snapshots'} is a file, where a folder is needed"]
    assert engine._tr.step_count == 10 and not engine._busy()
    (run / "snapshots").rename(tmp_path / "notes.txt")
    train(engine, 10)
    assert engine._tr.step_count == 20 and (run / "snapshots" / "step_00000020.png").is_file()
    assert load_checkpoint_file(run / "checkpoint.pt")["step"] == 20
    engine._finish_run()


def test_ending_a_run_whose_snapshot_cannot_be_written_says_why_in_words(tmp_path):
    engine, replies = engine_with_run(tmp_path, saved_every_10())
    run = engine._run.path
    train(engine, 5)
    (run / "snapshots").write_text("notes")
    engine._finish_run()   # New, Open or closing the window
    failed = [r.message for r in replies if isinstance(r, P.Failed)]
    # it said "could not save the run in RUN: [Errno 17] File exists: 'RUN/snapshots'"
    assert failed == [f"could not save the run in {run}: {run / 'snapshots'} is a file, where a folder is needed"]
    assert load_checkpoint_file(run / "checkpoint.pt")["step"] == 5

"""Training: the Trainer (:mod:`.trainer`), its losses and tricks, and the RunLoop that adds a run's
logs, checkpoints and roll-back (:mod:`.run_loop`)."""

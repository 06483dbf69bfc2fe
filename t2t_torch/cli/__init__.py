"""The console scripts, one module each: `train` (`t2t-train`, `python train.py`), `eval` (`t2t-eval`), `datagen`
(`t2t-datagen`), `inspect` (`t2t-inspect`), `registry` (`t2t-registry`), `decode` (`t2t-decode`, `python decode.py`)
and `translate_all` (`t2t-translate-all`). The Hydra ones run through `app.run_app`; `t2t-avg-checkpoints` and
`t2t-regress` have their `main` beside their library (checkpoints/average.py, regress/runner.py)."""

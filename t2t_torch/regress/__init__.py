"""The known-result runner (`t2t-regress`, T2T's "run this, get that"): recipes with bands (`known_results.yaml`
beside `experiment/` in a config dir), their runs, results and report."""

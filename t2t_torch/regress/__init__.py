"""The known-result runner (`t2t-regress`, T2T's "run this, get that"): recipes with `expected:` bands, their runs,
results and report."""

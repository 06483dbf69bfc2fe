"""Run known-result recipes and check their metrics against their bands (same as the `t2t-regress` console script).

    python scripts/regress.py --list
    python scripts/regress.py --all-cpu --seeds 1,2,3
"""

import sys

from t2t_torch.regress.runner import main

if __name__ == "__main__":
    sys.exit(main())

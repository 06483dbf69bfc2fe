"""Train a model on a problem: `python train.py problem=... model=... hparams=... trainer=...` (see README)."""

from t2t_torch.cli.train import main

if __name__ == "__main__":
    main()

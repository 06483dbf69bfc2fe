"""Decode with a trained model (see README):

    python decode.py ckpt_path=... [decode.from_file=... decode.to_file=...]
"""

from t2t_torch.cli.decode import main

if __name__ == "__main__":
    main()

"""Decode with a trained model (see README):

    python decode.py ckpt_path=... [decode.from_file=... decode.to_file=...]
"""

from t2t_torch.decode import decode_main

if __name__ == "__main__":
    decode_main()

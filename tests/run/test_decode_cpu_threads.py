"""CPU decoding never runs more intra-op threads than the CPUs the process may use (run/decode.py
`cap_cpu_threads`), and never raises a smaller setting."""

import torch

from t2t_torch.run import decode


def test_cpu_threads_are_capped_to_the_usable_cpus_and_never_raised(monkeypatch):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(decode, "usable_cpus", lambda: 1)
        assert decode.cap_cpu_threads() == 1 and torch.get_num_threads() == 1
        monkeypatch.setattr(decode, "usable_cpus", lambda: 8)
        assert decode.cap_cpu_threads() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)

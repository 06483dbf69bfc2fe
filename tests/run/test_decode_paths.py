"""Where decoding a split writes (`decode.to_file` with `decode.split`, t2t_torch/run/decode.py): a name with a suffix
(`dev.beam4.txt`) is the decodes file, with the references and inputs beside it under derived names; a name without
a suffix, or an existing folder, is the folder that gets decodes.txt, references.txt and inputs.txt; an output that
is a folder is refused in one line before decoding."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from t2t_torch.errors import T2TUserError
from t2t_torch.run.decode import decode
from t2t_torch.run.train import train
from tests.fixtures.helpers import compose, tiny

DEV_SIZE = 24


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("decode_paths")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(compose(tiny(["trainer.max_steps=2", "trainer.val_check_interval=2"]), tmp))
    finally:
        torch.set_num_threads(threads)
    return tmp / "run" / "checkpoints" / "last.ckpt"


def decode_split(ckpt: Path, tmp_path: Path, to_file: Path) -> dict[str, float]:
    cfg = compose([f"ckpt_path={ckpt}", "device=cpu", "decode.split=dev", "decode.beam_size=1",
                   "decode.extra_length=4", f"decode.to_file={to_file}"], tmp_path, "decode")
    cfg.data_dir = None  # the run's
    return decode(cfg)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_a_name_with_a_suffix_is_the_decodes_file_with_its_siblings_beside_it(ckpt, tmp_path):
    out = tmp_path / "out"
    metrics = decode_split(ckpt, tmp_path, out / "dev.beam4.txt")
    assert (out / "dev.beam4.txt").is_file() and metrics["lines"] == DEV_SIZE
    assert sorted(p.name for p in out.iterdir()) == ["dev.beam4.inputs.txt", "dev.beam4.references.txt",
                                                     "dev.beam4.txt"]
    assert len(lines(out / "dev.beam4.txt")) == DEV_SIZE
    assert lines(out / "dev.beam4.inputs.txt") == lines(out / "dev.beam4.references.txt")  # the identity task
    assert all(set(line.split()) <= {"0", "1"} for line in lines(out / "dev.beam4.inputs.txt"))


def test_a_name_without_a_suffix_or_an_existing_folder_is_the_folder(ckpt, tmp_path):
    for folder in (tmp_path / "decodes", tmp_path / "existing.txt"):
        if folder.suffix:
            folder.mkdir()
        decode_split(ckpt, tmp_path, folder)
        assert sorted(p.name for p in folder.iterdir()) == ["decodes.txt", "inputs.txt", "references.txt"]
        assert len(lines(folder / "decodes.txt")) == DEV_SIZE


def test_a_sibling_that_is_a_folder_is_refused_before_decoding(ckpt, tmp_path):
    (tmp_path / "dev.references.txt").mkdir()
    with pytest.raises(T2TUserError, match="dev.references.txt' is a folder") as error:
        decode_split(ckpt, tmp_path, tmp_path / "dev.txt")
    assert "\n" not in str(error.value) and not (tmp_path / "dev.txt").exists()

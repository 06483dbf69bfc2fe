"""`t2t-translate-all` on a real tiny run that kept a checkpoint per validation: one row per step (last.ckpt counts
once), each row's scores are sacreBLEU's of that step's written decodes, the table, CSV and plot are written, and a
bad output folder or a foreign checkpoint is one line before anything is decoded."""

import csv

import pytest
import sacrebleu
import torch

from t2t_torch.cli.translate_all import main
from t2t_torch.run.train import train
from tests.fixtures.helpers import compose, tiny


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("translate_all")
    torch.set_num_threads(1)
    train(compose(tiny(["trainer.max_steps=6", "keep_checkpoint_max=5"]), tmp))
    return tmp / "run"


def test_every_checkpoint_is_decoded_and_tabulated_by_step(run, capsys):
    out = run / "every"
    assert main([str(run), "--num_samples", "12", "--beam_size", "1", "--device", "cpu", "--out", str(out)]) == 0
    with open(out / "table.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    for row in rows:
        folder = out / f"step-{row['step']}"
        decodes = (folder / "decodes.txt").read_text().splitlines()
        references = (folder / "references.txt").read_text().splitlines()
        assert len(decodes) == 12
        assert float(row["bleu"]) == pytest.approx(sacrebleu.corpus_bleu(decodes, [references]).score, abs=1e-3)
        assert float(row["chrf"]) == pytest.approx(sacrebleu.corpus_chrf(decodes, [references]).score, abs=1e-3)
    table = (out / "table.md").read_text()
    assert table.startswith("| step | dev bleu | dev chrf |") and len(table.splitlines()) == 5
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Wrote" in capsys.readouterr().out


def test_a_bad_output_folder_or_a_foreign_checkpoint_is_one_line(run, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main([str(run), "--out", str(blocker / "sub"), "--device", "cpu"]) == 2
    assert "--out" in capsys.readouterr().err and not (blocker.parent / "sub").exists()
    foreign = tmp_path / "foreign" / "checkpoints"
    foreign.mkdir(parents=True)
    for name in ("step-2.ckpt", "last.ckpt"):
        (foreign / name).write_bytes((run / "checkpoints" / name).read_bytes())
    checkpoint = torch.load(foreign / "step-2.ckpt", weights_only=False)
    checkpoint["hyper_parameters"]["problem_name"] = "algorithmic_reverse_binary40"
    torch.save(checkpoint, foreign / "step-2.ckpt")
    assert main([str(foreign.parent), "--device", "cpu", "--out", str(tmp_path / "out")]) == 2
    assert "algorithmic_reverse_binary40" in capsys.readouterr().err and not (tmp_path / "out").exists()
    with pytest.raises(SystemExit):
        main([])

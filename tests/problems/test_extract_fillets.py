"""scripts/extract_fillets.py on level folders in the game's real format: each dialogId's English line paired with
the dialogStr after it (escaped quotes kept, spaces collapsed), split by level, no level in two splits."""

import runpy
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "extract_fillets.py"


def level(root: Path, name: str, pairs: list[tuple[str, str]]) -> None:
    lines = [f'dialogId("{name}-{i}", "font_big", "{en}")\ndialogStr("{de}")\n\n' for i, (en, de) in enumerate(pairs)]
    (root / name).mkdir(parents=True)
    (root / name / "dialogs_de.lua").write_text("\n".join(lines), encoding="utf-8")


def test_pairs_are_extracted_and_split_by_level(tmp_path, monkeypatch, capsys):
    script = tmp_path / "script"
    for number in range(11):
        level(script, f"level{number:02d}", [(f"Line {number} one.", f"Zeile {number} eins."),
                                             ('He said \\"hi\\"  there.', f"Er sagte {number}.")])
    (script / "no_dialogue").mkdir()
    monkeypatch.setattr(sys, "argv", ["extract_fillets.py", str(script), str(tmp_path / "out")])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    out = tmp_path / "out"
    rows = {s: (out / f"{s}.tsv").read_text(encoding="utf-8").splitlines() for s in ("train", "dev", "test")}
    assert [len(rows[s]) for s in ("train", "dev", "test")] == [2 * 8, 2 * 1, 2 * 2]  # levels 0 and 10: test, 5: dev
    assert rows["test"][0] == "Line 0 one.\tZeile 0 eins." and rows["dev"][0] == "Line 5 one.\tZeile 5 eins."
    assert rows["test"][1] == 'He said "hi" there.\tEr sagte 0.'
    assert not (tmp_path / "out.part").exists() and "11 levels" in capsys.readouterr().out

"""The README's layout table matches the tree: every folder and top-level module of `t2t_torch/` and of
`t2t_torch/problems/` has a row, and every path the table names exists (so a moved or added module cannot leave the
table stale)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def layout_paths() -> set[str]:
    """The backticked paths in the first column of the README's `## Layout` table."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Layout\n"):]
    section = section[: section.index("\n## ", 1)]
    paths: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_column = line.split("|")[1]
            paths.update(re.findall(r"`([^`]+)`", first_column))
    return paths


def package_entries(folder: Path) -> set[str]:
    """`folder/<sub>/` for each subpackage and `folder/<module>.py` for each module, relative to the repository."""
    entries = set()
    for path in folder.iterdir():
        relative = path.relative_to(ROOT).as_posix()
        if path.is_dir() and (path / "__init__.py").is_file():
            entries.add(relative + "/")
        elif path.suffix == ".py" and path.parent == ROOT / "t2t_torch":
            entries.add(relative)
    return entries


def test_every_path_the_layout_table_names_exists():
    missing = sorted(p for p in layout_paths() if "*" not in p and not (ROOT / p.rstrip("/")).exists())
    assert not missing, f"README layout names paths that do not exist: {missing}"


def test_every_package_folder_and_top_level_module_has_a_row():
    named = layout_paths()
    expected = package_entries(ROOT / "t2t_torch") | package_entries(ROOT / "t2t_torch" / "problems")
    absent = sorted(entry for entry in expected if entry not in named)
    assert not absent, f"README layout table lacks rows for: {absent}"
    assert len(expected) > 20  # the walk itself found the package

"""The installed package finds its config groups: build the wheel, install it (not editable) into a fresh venv, and
run `t2t-train debug=fast` from another directory. The configs live in the top-level `conf/` of the checkout and
reach the wheel as the package `t2t_torch.conf` (setup.py's package-dir), read by Hydra as `pkg://t2t_torch.conf`.

The venv sees this process's import path (torch and the other dependencies, installed once: the base interpreter's
site-packages, or a user's venv's, wherever pytest runs) through a `.pth` file, after its own site-packages, so it
gets t2t-torch only from the wheel; the test checks that the run imported the wheel's copy."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: int = 300) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def see_this_environment(python: Path, cwd: Path, env: dict[str, str]) -> None:
    """Put this process's import path, less the checkout, after the venv's own site-packages (a `.pth` file): its
    `system_site_packages` would show the base interpreter's packages, which inside a user's venv lack torch."""
    site_packages = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd, env)
    paths = [p for p in sys.path if p and Path(p).is_dir() and Path(p).resolve() not in (ROOT, ROOT / "tests")]
    (Path(site_packages.strip()) / "this_environment.pth").write_text("\n".join(paths) + "\n")


def test_wheel_installs_and_trains_from_another_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["OMP_NUM_THREADS"] = "1"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
         str(ROOT)], tmp_path, env)
    (wheel,) = (tmp_path / "dist").glob("t2t_torch-*.whl")
    venv.create(tmp_path / "venv", with_pip=False)
    python = tmp_path / "venv" / "bin" / "python"
    see_this_environment(python, tmp_path, env)
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)], tmp_path, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run([str(python), "-c", "import t2t_torch, t2t_torch.conf; print(t2t_torch.__file__);"
                 " print(t2t_torch.conf.__path__[0])"], elsewhere, env).split()
    assert all(path.startswith(str(tmp_path / "venv")) for path in where), where  # the wheel's copy, not the checkout
    conf = Path(where[1])
    assert (conf / "train.yaml").is_file() and (conf / "hparams" / "transformer_tiny.yaml").is_file()
    out = run([str(tmp_path / "venv" / "bin" / "t2t-train"), "debug=fast", f"data_dir={tmp_path / 'data'}",
               "trainer.enable_progress_bar=false"], elsewhere, env)
    assert "Run directory" in out and (elsewhere / "outputs").is_dir()

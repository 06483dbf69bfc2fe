"""Files fetched from a problem's original URL (T2T's `generator_utils.maybe_download`), kept under
`data_dir/downloads/`: downloaded once, through a temporary file renamed when complete (torch.hub), with a one-line
error naming the URL and how to read local files instead."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import torch.hub

from t2t_torch.errors import T2TUserError

DOWNLOADS = "downloads"  # under data_dir: archives fetched from the original URLs, and their extracted files


def download(url: str, folder: Path, hint: str) -> Path:
    """`folder/<file name of url>`, downloaded once with a progress bar; `hint` ends the error when it fails."""
    target = folder / url.rsplit("/", 1)[-1]
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(target), progress=True)
    except (urllib.error.URLError, OSError) as error:
        raise T2TUserError(f"could not download {url} ({error}): {hint}") from error
    return target

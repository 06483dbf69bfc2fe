"""Two processes preparing one data_dir at the same time (two jobs of a sweep, two DDP nodes on a shared disk).

Each split is cached in a folder per fingerprint under a lock of its own (problem.py), so:
- with different settings, both prepare at once, each into its own folders, and each reads its own examples;
- with the same settings, one prepares each split while the other waits on its lock, then reuses the cache.

The processes are spawned, import everything, then start preparing together (a barrier). Generation is slowed
down in the workers (a short sleep every 500 examples) so that each preparation holds its lock for about a second:
the two preparations do overlap, and in the second case the late one really waits on the lock.
"""

import multiprocessing
import queue
import time
from pathlib import Path

import numpy as np
import pytest

from t2t_torch import registry

PROBLEM = "algorithmic_reverse_binary40"
BASE = {"train_size": 4000, "dev_size": 1500, "train_length": 8, "dev_length": 8}
SLEEP_EVERY, SLEEP_S = 500, 0.12  # about 1 s of preparation for 4000 examples


def _worker(settings: dict, data_dir: str, barrier, results) -> None:
    """Prepare `settings` into `data_dir` in this process; report what it did through `results`."""
    try:
        import filelock

        import t2t_torch.problems.problem as problem_module
        from t2t_torch.datamodules.example_cache import ExampleCache

        report = {"settings": settings, "waits": {}, "writes": {}}

        class RecordingLock(filelock.FileLock):
            def acquire(self, *args, **kwargs):
                started = time.monotonic()
                try:
                    return super().acquire(*args, **kwargs)
                finally:
                    report["waits"][Path(self.lock_file).name] = time.monotonic() - started

        original_write = ExampleCache.write

        def recording_write(cache, samples, fingerprint):
            started = time.time()
            count = original_write(cache, samples, fingerprint)
            report["writes"][cache.path.name] = (started, time.time(), count)
            return count

        problem_module.FileLock = RecordingLock
        ExampleCache.write = recording_write
        problem = registry.problem(PROBLEM, **settings)
        generate = problem.generate_encoded_samples

        def slow_samples(split, data_dir):
            for index, sample in enumerate(generate(split, data_dir)):
                if index % SLEEP_EVERY == 0:
                    time.sleep(SLEEP_S)
                yield sample

        problem.generate_encoded_samples = slow_samples
        barrier.wait(timeout=120)
        report["started"] = time.time()
        problem.generate_data(data_dir)
        report["finished"] = time.time()
        report["counts"] = {split: len(problem.dataset(split, data_dir)) for split in problem.splits}
        results.put(report)
    except BaseException as error:  # noqa: BLE001  (reported to the test)
        results.put({"error": repr(error)})
        raise


def prepare_concurrently(settings_pair: list[dict], data_dir: Path) -> list[dict]:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_worker, args=(settings, str(data_dir), barrier, results))
               for settings in settings_pair]
    for worker in workers:
        worker.start()
    reports, deadline = [], time.monotonic() + 240
    while len(reports) < len(workers) and time.monotonic() < deadline:
        try:
            reports.append(results.get(timeout=1))
        except queue.Empty:
            if not any(w.is_alive() for w in workers) and results.empty():
                break  # a worker died without a report (its traceback is on stderr)
    for worker in workers:
        worker.join(timeout=60)
    assert len(reports) == len(workers) and all("error" not in r for r in reports), reports
    assert [w.exitcode for w in workers] == [0, 0]
    return reports


def train_write(report: dict) -> tuple[float, float, int]:
    """(start, end, examples) of the train cache this worker wrote."""
    return next(value for name, value in report["writes"].items() if name.startswith("train."))


def assert_examples_as_generated(settings: dict, data_dir: Path, tmp_path: Path) -> None:
    """Every split served from the shared data_dir holds exactly the examples a lone process would prepare."""
    problem = registry.problem(PROBLEM, **settings)
    reference_dir = tmp_path / f"reference-{settings['train_size']}"
    problem.generate_data(reference_dir)
    for split in problem.splits:
        served, alone = problem.dataset(split, data_dir), problem.dataset(split, reference_dir)
        assert len(served) == len(alone) == settings[f"{split}_size"]
        for feature in served.features:
            np.testing.assert_array_equal(served.arrays[feature][0], alone.arrays[feature][0])
            np.testing.assert_array_equal(served.arrays[feature][1], alone.arrays[feature][1])


def assert_nothing_half_written(data_dir: Path) -> None:
    root = registry.problem(PROBLEM).cache_dir(data_dir)
    assert not [p for p in root.rglob("*") if ".tmp" in p.name], "temporary files left behind"
    for folder in (p for p in root.iterdir() if p.is_dir()):
        assert (folder / "manifest.json").is_file(), f"{folder} has no manifest"


def test_different_settings_prepare_side_by_side(tmp_path):
    data_dir = tmp_path / "data"
    pair = [{**BASE, "train_size": 4000}, {**BASE, "train_size": 3000}]
    reports = prepare_concurrently(pair, data_dir)
    by_size = {r["settings"]["train_size"]: r for r in reports}
    for settings in pair:
        report = by_size[settings["train_size"]]
        assert report["counts"] == {"train": settings["train_size"], "dev": settings["dev_size"]}
        assert sorted(name.split(".")[0] for name in report["writes"]) == ["dev", "train"]  # each prepared its own
        assert_examples_as_generated(settings, data_dir, tmp_path)
    (a_start, a_end, _), (b_start, b_end, _) = (train_write(r) for r in reports)
    assert a_start < b_end and b_start < a_end, "the two preparations did not overlap: no race was tested"
    assert not set(reports[0]["writes"]) & set(reports[1]["writes"])  # never the same folder
    root = registry.problem(PROBLEM).cache_dir(data_dir)
    assert len([p for p in root.iterdir() if p.is_dir()]) == 4  # train and dev, per settings
    assert_nothing_half_written(data_dir)


def test_same_settings_prepare_once_and_the_other_waits(tmp_path):
    data_dir = tmp_path / "data"
    reports = prepare_concurrently([dict(BASE), dict(BASE)], data_dir)
    for report in reports:
        assert report["counts"] == {"train": BASE["train_size"], "dev": BASE["dev_size"]}
    for split in ("train", "dev"):
        writers = [r for r in reports if any(n.startswith(f"{split}.") for n in r["writes"])]
        assert len(writers) == 1, f"{split} was prepared {len(writers)} times"
    train_writer = next(r for r in reports if any(n.startswith("train.") for n in r["writes"]))
    other = next(r for r in reports if r is not train_writer)
    started, ended, _ = train_write(train_writer)
    train_lock = next(n for n in other["waits"] if n.startswith("train."))
    # The other process asked for the train lock while the cache was being written, and got it only after.
    assert other["started"] < ended and other["waits"][train_lock] > 0.3 * (ended - started), (other, train_writer)
    assert_examples_as_generated(BASE, data_dir, tmp_path)
    root = registry.problem(PROBLEM).cache_dir(data_dir)
    assert len([p for p in root.iterdir() if p.is_dir()]) == 2
    assert_nothing_half_written(data_dir)


if __name__ == "__main__":
    pytest.main([__file__, "-q"])

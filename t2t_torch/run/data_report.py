"""What a model will see, before it trains: a problem's split shown as examples decoded back to text, its lengths
per feature, and how much of each vocabulary it uses (`t2t-inspect`; T2T had no such command, its users read
TFRecords with ad-hoc scripts or `t2t-datagen` logs).

    t2t-inspect problem=translate_ende_bible [inspect.split=train] [inspect.num_examples=5] [inspect.plot=lengths.png]

The problem's data is prepared first, as `t2t-datagen` does (nothing is reprepared when its cache is current).
Examples are taken evenly spread over the split. A text feature is decoded with the problem's encoders (with its
number of ids); a class label is shown by name; another feature (audio frames, an image) by its shape and the mean
and deviation of its values. For each variable-length feature: min, median, 95th percentile and max length, and a
10-bin histogram in text (and in `inspect.plot`, a PNG, with matplotlib from the `regress` extra). For each symbol
feature: how many of its vocabulary's ids the split uses, the tokens it holds, and (with a subword or byte
vocabulary) the share of its tokens that are single bytes or characters, a sign of text the vocabulary covers
badly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from t2t_torch.errors import T2TUserError
from t2t_torch.modalities import modality_class
from t2t_torch.run.writable import check_output_file
from t2t_torch.spec import EOS_ID, PAD_ID, FeatureSpec

TEXT_LIMIT = 300  # characters of a decoded example shown
BARS = 40  # width of the text histogram's longest bar


def example_text(value: np.ndarray, name: str, feature: FeatureSpec, encoders: dict[str, Any],
                 labels: list[str]) -> str:
    """One feature of one example as a line of text."""
    if name in encoders and modality_class(feature.modality).token_ids:
        ids = [int(i) for i in np.asarray(value).reshape(-1) if int(i) not in (PAD_ID, EOS_ID)]
        text = encoders[name].decode(ids)
        shown = text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + " ..."
        return f"{shown!r} ({len(ids)} ids)"
    if modality_class(feature.modality).labels:
        index = int(np.asarray(value).reshape(-1)[0])
        return labels[index] if index < len(labels) else str(index)
    array = np.asarray(value, dtype=np.float64)
    return f"{feature.modality} {tuple(array.shape)}, mean {array.mean():.3g}, std {array.std():.3g}"


def length_summary(lengths: np.ndarray) -> dict[str, float]:
    return {"min": float(lengths.min()), "median": float(np.median(lengths)),
            "p95": float(np.percentile(lengths, 95)), "max": float(lengths.max())}


def histogram_lines(lengths: np.ndarray, bins: int = 10) -> list[str]:
    counts, edges = np.histogram(lengths, bins=bins)
    top = max(int(counts.max()), 1)
    return [f"  {edges[i]:8.0f}-{edges[i + 1]:<8.0f} {'#' * round(BARS * c / top):<{BARS}} {c}"
            for i, c in enumerate(counts.tolist())]


def vocabulary_use(dataset: Any, name: str, feature: FeatureSpec, encoder: Any | None) -> dict[str, float]:
    """Ids of the vocabulary the split uses, its tokens, and the share of tokens that are single characters."""
    ids = np.asarray(dataset.stored_rows(name)).reshape(-1).astype(np.int64)
    ids = ids[(ids != PAD_ID) & (ids != EOS_ID)]
    used = np.unique(ids)
    out = {"tokens": float(len(ids)), "ids_used": float(len(used)), "vocab_size": float(feature.vocab_size)}
    if encoder is not None and len(used):
        single = {int(i) for i in used if len(encoder.decode([int(i)]).strip()) == 1}
        out["single_character_share"] = float(np.isin(ids, list(single)).mean()) if single else 0.0
    return out


def inspect_split(problem: Any, data_dir: str | Path, split: str, num_examples: int,
                  plot: str | Path | None = None) -> dict[str, Any]:
    """Print the report of `split` and return its numbers ({"examples", "lengths", "vocabulary", "shown"})."""
    if num_examples < 0:
        raise T2TUserError(f"inspect.num_examples must be >= 0, got {num_examples}")
    if split not in problem.splits:
        raise T2TUserError(f"{problem.name} has no split '{split}': pass inspect.split= one of"
                           f" {', '.join(problem.splits)}")
    if plot:
        plot = check_output_file(plot, "inspect.plot")
    data_dir = Path(data_dir).expanduser()
    problem.generate_data(data_dir)
    spec = problem.spec(data_dir)
    dataset = problem.dataset(split, data_dir)
    try:
        encoders = problem.feature_encoders(data_dir)
    except NotImplementedError:
        encoders = {}
    labels = list(spec.extra.get("labels") or [])
    features = {name: spec.features[name] for name in dataset.features if name in spec.features}
    print(f"{problem.name} / {split}: {len(dataset):,} examples in {data_dir}")
    count = min(num_examples, len(dataset))
    picks = np.linspace(0, len(dataset) - 1, count).round().astype(int) if count else []
    shown = []
    for index in picks:
        example = dataset[int(index)]
        print(f"\nexample {int(index)}:")
        lines = {name: example_text(example[name], name, feature, encoders, labels) for name, feature in
                 features.items()}
        for name, line in lines.items():
            print(f"  {name}: {line}")
        shown.append(lines)
    report: dict[str, Any] = {"examples": len(dataset), "lengths": {}, "vocabulary": {}, "shown": shown}
    for name, feature in features.items():
        if feature.is_variable_length and len(dataset) and hasattr(dataset, "feature_lengths"):
            lengths = dataset.feature_lengths(name)
            summary = report["lengths"][name] = length_summary(lengths)
            unit = modality_class(feature.modality).length_unit + (", EOS included" if feature.append_eos else "")
            print(f"\n{name} length ({unit}): "
                  + ", ".join(f"{k} {v:g}" for k, v in summary.items()))
            print("\n".join(histogram_lines(lengths)))
        if modality_class(feature.modality).token_ids and len(dataset) and hasattr(dataset, "stored_rows"):
            use = report["vocabulary"][name] = vocabulary_use(dataset, name, feature, encoders.get(name))
            single = (f"; {100 * use['single_character_share']:.1f}% of them single characters"
                      if "single_character_share" in use else "")
            print(f"\n{name} vocabulary: {int(use['ids_used']):,} of {int(use['vocab_size']):,} ids used,"
                  f" {int(use['tokens']):,} tokens{single}")
    if plot:
        save_plot(dataset, features, Path(plot).expanduser(), f"{problem.name} / {split}")
    return report


def save_plot(dataset: Any, features: dict[str, FeatureSpec], path: Path, title: str) -> None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise T2TUserError("inspect.plot draws with matplotlib: pip install 't2t-torch[regress]'") from None
    names = [n for n, f in features.items() if f.is_variable_length]
    if not names:
        raise T2TUserError("inspect.plot draws length histograms, and no feature of this problem varies in length")
    figure = Figure(figsize=(4.5 * len(names), 3.2), layout="constrained")
    for ax, name in zip(figure.subplots(1, len(names), squeeze=False)[0], names, strict=True):
        ax.hist(dataset.feature_lengths(name), bins=30)
        ax.set_title(f"{title}: {name}")
        ax.set_xlabel("length")
        ax.set_ylabel("examples")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    print(f"\nWrote the length histograms to {path}")

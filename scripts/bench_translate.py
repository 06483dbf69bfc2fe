"""Translation speed, side by side: our Transformer vs Hugging Face `MarianMTModel` with the same dimensions.

Measures in one process, on the same synthetic batches (seeded random token ids, lengths uniform in
[--min_len, --max_len]):
- training tokens/s: forward + label-smoothed loss (0.1) + backward + Adam step, over batches of --batch sentences;
- beam-4 decoding sentences/s: --decode_sentences inputs in batches of --decode_batch, beam --beam_size, exactly
  --decode_len new tokens per hypothesis for both (eos is masked out on both sides, HF via `min_new_tokens`), so
  the two searches do the same number of steps whatever the untrained weights prefer;
- greedy decoding sentences/s, the same way, for reference.
Rounds alternate ours / HF and the median round counts, to damp the noise of a shared machine. Our side is the
production path: `Transformer.encode` / `init_cache` / `decode_step` driven by `t2t_torch.decoding.beam_search`
or `greedy_search`; the HF side is `MarianMTModel.generate` (KV cache on).

The models match: pre-norm (ours, T2T) vs post-norm (Marian) is the one architectural difference; both have
sinusoidal positions, scaled and shared (tied) embeddings, ReLU FFNs, dropout 0.1 on residuals and none inside
attention/FFN. Marian has biases on q/k/v/out and a final logits bias; ours has none (T2T): about 1% more
parameters on HF's side, printed below.

    pip install -e ".[bench]"
    flock /tmp/t2t_cpu.lock python scripts/bench_translate.py --preset transformer_tiny --threads 1
    flock /tmp/t2t_cpu.lock python scripts/bench_translate.py --preset transformer_small --threads 2
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import torch
import torch.nn.functional as F

from t2t_torch.decoding import beam_search, greedy_search
from t2t_torch.modalities.losses import padded_cross_entropy
from t2t_torch.models.transformer import Transformer, TransformerConfig

PRESETS = {  # T2T's hparams sets
    "transformer_tiny": dict(hidden=128, filter=512, layers=2, heads=4),
    "transformer_small": dict(hidden=256, filter=1024, layers=2, heads=4),
    "transformer_base": dict(hidden=512, filter=2048, layers=6, heads=8),
}
PAD, EOS = 0, 1


def synthetic_batch(gen: torch.Generator, sentences: int, args: argparse.Namespace) -> torch.Tensor:
    """(sentences, max_len + 1) ids in [2, vocab), each row a random length then eos, then pad."""
    lengths = torch.randint(args.min_len, args.max_len + 1, (sentences,), generator=gen)
    ids = torch.randint(2, args.vocab, (sentences, int(lengths.max()) + 1), generator=gen)
    positions = torch.arange(ids.size(1))
    ids[positions[None, :] == lengths[:, None]] = EOS
    return ids.masked_fill(positions[None, :] > lengths[:, None], PAD)


def build_ours(args: argparse.Namespace) -> Transformer:
    config = TransformerConfig(hidden_size=args.hidden, num_hidden_layers=args.layers, num_heads=args.heads,
                               filter_size=args.filter, layer_prepostprocess_dropout=0.1, attention_dropout=0.0,
                               relu_dropout=0.0, label_smoothing=0.1)
    return Transformer(config, args.vocab, args.vocab)


def build_hf(args: argparse.Namespace) -> torch.nn.Module:
    from transformers import MarianConfig, MarianMTModel

    config = MarianConfig(vocab_size=args.vocab, d_model=args.hidden, encoder_layers=args.layers,
                          decoder_layers=args.layers, encoder_attention_heads=args.heads,
                          decoder_attention_heads=args.heads, encoder_ffn_dim=args.filter, decoder_ffn_dim=args.filter,
                          activation_function="relu", dropout=0.1, attention_dropout=0.0, activation_dropout=0.0,
                          max_position_embeddings=1024, scale_embedding=True, share_encoder_decoder_embeddings=True,
                          tie_word_embeddings=True, pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD,
                          forced_eos_token_id=None)
    return MarianMTModel(config)


def train_step_ours(model: Transformer, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return model({"inputs": batch[0], "targets": batch[1]})["loss"]


def train_step_hf(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    inputs, targets = batch
    decoder_inputs = F.pad(targets[:, :-1], (1, 0), value=PAD)  # shift right, pad = decoder start
    logits = model(input_ids=inputs, attention_mask=inputs != PAD, decoder_input_ids=decoder_inputs).logits
    loss_sum, num_tokens = padded_cross_entropy(logits, targets, 0.1)  # the same loss as ours
    return loss_sum / num_tokens


def time_training(model: torch.nn.Module, step: Callable[..., torch.Tensor], batches: list[Any]) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    started = time.perf_counter()
    for batch in batches:
        optimizer.zero_grad(set_to_none=True)
        step(model, batch).backward()
        optimizer.step()
    return time.perf_counter() - started


@torch.inference_mode()
def decode_ours(model: Transformer, inputs: torch.Tensor, beam_size: int, length: int) -> torch.Tensor:
    memory, mask = model.encode(inputs)
    cache = model.init_cache(memory, mask, length)

    def no_eos(ids: torch.Tensor, step: int, cache: dict) -> tuple[torch.Tensor, dict]:
        logits, cache = model.decode_step(ids, step, cache)
        return logits.index_fill_(1, torch.tensor([EOS]), float("-inf")), cache

    vocab = model.target_embedding.num_embeddings
    if beam_size == 1:
        return greedy_search(no_eos, inputs.size(0), length, vocab, cache).ids
    return beam_search(no_eos, inputs.size(0), beam_size, length, vocab, alpha=0.6, cache=cache).ids


@torch.inference_mode()
def decode_hf(model: torch.nn.Module, inputs: torch.Tensor, beam_size: int, length: int) -> torch.Tensor:
    beam_options = {"length_penalty": 0.6, "early_stopping": False} if beam_size > 1 else {}
    return model.generate(input_ids=inputs, attention_mask=inputs != PAD, num_beams=beam_size, do_sample=False,
                          max_new_tokens=length, min_new_tokens=length, num_return_sequences=1, **beam_options)


def time_decoding(model: torch.nn.Module, decode: Callable[..., torch.Tensor], batches: list[torch.Tensor],
                  beam_size: int, length: int) -> float:
    model.eval()
    started = time.perf_counter()
    for inputs in batches:
        out = decode(model, inputs, beam_size, length)
        if out.size(-1) < length:
            raise RuntimeError(f"{decode.__name__} returned {out.size(-1)} tokens, expected {length}")
    return time.perf_counter() - started


def compare(name: str, run_ours: Callable[[], float], run_hf: Callable[[], float], work: float, unit: str,
            rounds: int) -> float:
    """Alternate rounds (after one warm-up each); print medians and the ratio ours / HF; return the ratio."""
    run_ours(), run_hf()
    ours, hf = [], []
    for _ in range(rounds):
        ours.append(run_ours())
        hf.append(run_hf())
    ours_rate, hf_rate = work / statistics.median(ours), work / statistics.median(hf)
    ratio = ours_rate / hf_rate
    print(f"| {name} | {ours_rate:,.1f} {unit} | {hf_rate:,.1f} {unit} | **{ratio:.2f}x** |")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="transformer_tiny")
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--min_len", type=int, default=10)
    parser.add_argument("--max_len", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32, help="sentences per training batch")
    parser.add_argument("--train_steps", type=int, default=10, help="training steps per round")
    parser.add_argument("--decode_sentences", type=int, default=32)
    parser.add_argument("--decode_batch", type=int, default=8)
    parser.add_argument("--decode_len", type=int, default=30, help="new tokens per hypothesis")
    parser.add_argument("--beam_size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    for key, value in PRESETS[args.preset].items():
        setattr(args, key, value)
    torch.set_num_threads(args.threads)
    import transformers

    gen = torch.Generator().manual_seed(0)
    train_batches = [(synthetic_batch(gen, args.batch, args), synthetic_batch(gen, args.batch, args))
                     for _ in range(args.train_steps)]
    decode_batches = [synthetic_batch(gen, args.decode_batch, args)
                      for _ in range(args.decode_sentences // args.decode_batch)]
    torch.manual_seed(0)
    ours, hf = build_ours(args), build_hf(args)
    count = lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad)  # noqa: E731
    train_tokens = sum(int((x != PAD).sum() + (y != PAD).sum()) for x, y in train_batches)
    sentences = sum(b.size(0) for b in decode_batches)
    print(f"{date.today()}, {platform.processor() or platform.machine()}, {args.threads} thread(s), torch "
          f"{torch.__version__}, transformers {transformers.__version__}; {args.preset} (hidden {args.hidden}, "
          f"filter {args.filter}, {args.layers}+{args.layers} layers, {args.heads} heads), vocab {args.vocab}, "
          f"params ours {count(ours) / 1e6:.2f}M vs HF {count(hf) / 1e6:.2f}M; lengths {args.min_len}-{args.max_len}")
    print("\n| measure | ours | HF Marian | ours / HF |\n|---|---:|---:|---:|")
    compare(f"training ({args.batch} sentences/batch)", lambda: time_training(ours, train_step_ours, train_batches),
            lambda: time_training(hf, train_step_hf, train_batches), train_tokens, "tokens/s", args.rounds)
    for beam in (args.beam_size, 1):
        label = f"beam-{beam} decoding" if beam > 1 else "greedy decoding"
        compare(f"{label} ({args.decode_batch} sentences/batch, {args.decode_len} tokens)",
                lambda beam=beam: time_decoding(ours, decode_ours, decode_batches, beam, args.decode_len),
                lambda beam=beam: time_decoding(hf, decode_hf, decode_batches, beam, args.decode_len),
                sentences, "sentences/s", args.rounds)


if __name__ == "__main__":
    main()

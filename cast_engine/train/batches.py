"""Tokenised example sets and their batches (dynamic padding).

Examples are tokenised once with Hugging Face ``datasets.map`` into an Arrow
cache file keyed by the texts, the tokenizer and the length limit, so a rerun
over the same data skips tokenisation. Batches are padded to their longest
member only.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch

from ..data.types import Example


@dataclass
class TokenizedSet:
    """Model inputs (lists of token ids per example) and labels."""

    features: dict[str, list[list[int]]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.features["input_ids"]]


def _cache_key(examples: Sequence[Example], tokenizer, max_length: int) -> str:
    """What the tokenised set depends on: the texts, the tokenizer (name, type, vocabulary size and
    added tokens) and the length limit. Not ``len(tokenizer)``: a fast tokenizer builds its whole
    vocabulary for it, 15 ms in Rust holding the interpreter, three times per run."""
    added = tokenizer.get_added_vocab() if hasattr(tokenizer, "get_added_vocab") else {}
    digest = hashlib.sha256()
    digest.update(json.dumps([getattr(tokenizer, "name_or_path", ""), type(tokenizer).__name__,
                              getattr(tokenizer, "vocab_size", None), sorted(added.items()), max_length]).encode())
    for ex in examples:
        digest.update(ex.text_a.encode("utf-8", "replace"))
        digest.update(b"\x00" + (ex.text_b or "").encode("utf-8", "replace") + b"\x01")
    return digest.hexdigest()[:24]


def default_token_cache() -> Path:
    """$CAST_CACHE_DIR/tokens, else the user's cache folder."""
    import platformdirs

    root = os.environ.get("CAST_CACHE_DIR") or platformdirs.user_cache_dir("cast-studio")
    return Path(root) / "tokens"


MAX_CHARS_PER_TOKEN = 100  # WordPiece's longest word (max_input_chars_per_word); longer ones become one [UNK]


def tokenize_examples(examples: Sequence[Example], tokenizer, max_length: int, cache_dir: Path | None = None) -> TokenizedSet:
    """Tokenise (truncating to max_length) through a cached ``datasets.map``."""
    import datasets

    labels = [ex.label for ex in examples]
    if not examples:
        return TokenizedSet({"input_ids": []}, labels)
    pair = examples[0].text_b is not None
    # Only the start of a text can reach the model: cut it before tokenising (a 50 MB field would
    # otherwise be tokenised whole, gigabytes, to keep max_length tokens). No tokenizer used here makes
    # a token of more than 100 characters, so what is cut off would be truncated away anyway.
    cut = max_length * MAX_CHARS_PER_TOKEN
    columns = {"text_a": [ex.text_a[:cut] for ex in examples]}
    if pair:
        columns["text_b"] = [(ex.text_b or "")[:cut] for ex in examples]

    def encode(batch):
        args = (batch["text_a"], batch["text_b"]) if pair else (batch["text_a"],)
        return tokenizer(*args, truncation=True, max_length=max_length)

    cache_dir = Path(cache_dir) if cache_dir else default_token_cache()
    key = _cache_key(examples, tokenizer, max_length)
    cache_file = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache_file = str(cache_dir / f"{key}.arrow")
    except OSError:
        pass  # an unwritable cache only costs time
    from ..data.quiet import datasets_quiet
    from ..imports import no_import_in_progress

    # datasets looks transformers up while it maps: never while another thread is importing it. The
    # fingerprint is our key: without one, datasets pickles ``encode`` with its tokenizer to name the
    # result, tens of milliseconds holding the interpreter (the studio's window waited for it).
    with no_import_in_progress(), datasets_quiet():
        table = datasets.Dataset.from_dict(columns).map(
            encode, batched=True, remove_columns=list(columns), cache_file_name=cache_file, load_from_cache_file=True,
            new_fingerprint=key)
    # Plain lists, read once: since datasets 4, ``table[name]`` is a lazy column whose every item is
    # fetched from Arrow on access (65 µs, holding the interpreter), and a batch reads each example's
    # ids several times; materialised, a batch is collated from lists.
    features = table.to_dict()
    return TokenizedSet(features, labels)


def concat(sets: Sequence[TokenizedSet]) -> TokenizedSet:
    """One set holding the examples of several, in order."""
    keys = sets[0].features.keys()
    return TokenizedSet({k: [row for s in sets for row in s.features.get(k, [])] for k in keys}, [y for s in sets for y in s.labels])


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Indices 0..n-1 in a seeded random order, cut into batches."""
    order = torch.randperm(n, generator=generator).tolist()
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def length_grouped_batches(lengths: Sequence[int], batch_size: int, generator: torch.Generator,
                           group: int = 50) -> list[list[int]]:
    """Seeded random batches of similar length (as Hugging Face's ``group_by_length``).

    The examples are shuffled, cut into groups of ``group`` batches, and each
    group is sorted by length before it is cut into batches, so a batch pads
    little while the order stays random. The batch holding the longest example
    goes first: a run that cannot fit it in memory fails at once, not late.
    """
    order = torch.randperm(len(lengths), generator=generator).tolist()
    span = batch_size * group
    batches = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: -lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    if batches:
        longest = max(range(len(batches)), key=lambda b: lengths[batches[b][0]])
        batches[0], batches[longest] = batches[longest], batches[0]
    return batches


def sequential_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Evaluation batches: sorted by length to pad little; order doesn't matter."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(data: TokenizedSet, indices: Sequence[int], pad_id: int, device: torch.device) -> tuple[dict, torch.Tensor]:
    """Pad the chosen examples to their longest member and move them to ``device``."""
    ids = data.features["input_ids"]
    width = max(len(ids[i]) for i in indices)
    if device.type == "cuda":  # tensor cores want multiples of 8; the attention mask hides the extra padding
        width = -(-width // 8) * 8
    batch = {}
    for key, rows in data.features.items():
        fill = pad_id if key == "input_ids" else 0
        batch[key] = torch.tensor([rows[i] + [fill] * (width - len(rows[i])) for i in indices], dtype=torch.long)
    if "attention_mask" not in batch:
        batch["attention_mask"] = torch.tensor([[1] * len(ids[i]) + [0] * (width - len(ids[i])) for i in indices], dtype=torch.long)
    labels = torch.tensor([data.labels[i] for i in indices], dtype=torch.long)
    non_blocking = device.type == "cuda"
    return {k: v.to(device, non_blocking=non_blocking) for k, v in batch.items()}, labels.to(device, non_blocking=non_blocking)


def iterate(data: TokenizedSet, batches: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> Iterator[tuple[dict, torch.Tensor]]:
    for indices in batches:
        yield collate(data, indices, pad_id, device)

"""Word-level differences between a factual text and its counterfactual revision.

``word_diff`` returns segments ``(op, text)`` with op "same", "removed" or
"added": joining the "same" and "removed" texts gives the original back, joining
"same" and "added" gives the revision. No Qt, no torch.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from cast_engine.data.types import Example

SAME, REMOVED, ADDED = "same", "removed", "added"
PAIR_SEPARATOR = " ‖ "  # between premise and hypothesis

_WORD = re.compile(r"(\S+)(\s*)")
_LEAD = re.compile(r"\s*")

Segment = tuple[str, str]


def _words(text: str) -> tuple[str, list[str], list[str]]:
    """Leading whitespace, the words, and the whitespace after each word."""
    lead = _LEAD.match(text).group()
    found = _WORD.findall(text, len(lead))
    return lead, [w for w, _ in found], [s for _, s in found]


def word_diff(original: str, revised: str) -> list[Segment]:
    """Segments (op, text) that turn ``original`` into ``revised`` word by word.

    Words are compared whole (punctuation attached); a run of changed words comes
    out as one removed and one added segment, and whitespace both sides share
    stays "same". Adjacent segments never share an op.
    """
    lead_a, words_a, after_a = _words(original)
    lead_b, words_b, after_b = _words(revised)
    segments: list[Segment] = []
    _same_or_changed(segments, lead_a, lead_b)
    matcher = SequenceMatcher(None, words_a, words_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2)):
                _append(segments, SAME, words_a[i])
                _same_or_changed(segments, after_a[i], after_b[j])
            continue
        removed = _join(words_a[i1:i2], after_a[i1:i2])
        added = _join(words_b[j1:j2], after_b[j1:j2])
        shared = _shared_space(removed, added)
        _append(segments, REMOVED, removed[: len(removed) - len(shared)])
        _append(segments, ADDED, added[: len(added) - len(shared)])
        _append(segments, SAME, shared)
    return segments


def _join(words: list[str], after: list[str]) -> str:
    return "".join(w + s for w, s in zip(words, after))


def _shared_space(a: str, b: str) -> str:
    """The trailing whitespace that both texts end with (when both are non-empty)."""
    if not a or not b:
        return ""
    space_a, space_b = a[len(a.rstrip()):], b[len(b.rstrip()):]
    return space_a if space_a == space_b else ""


def _same_or_changed(segments: list[Segment], a: str, b: str) -> None:
    """Whitespace at the same place on both sides: same if equal, else removed + added."""
    if a == b:
        _append(segments, SAME, a)
    else:
        _append(segments, REMOVED, a)
        _append(segments, ADDED, b)


def _append(segments: list[Segment], op: str, text: str) -> None:
    """Add a segment, merging it into the last one when the op is the same."""
    if not text:
        return
    if segments and segments[-1][0] == op:
        segments[-1] = (op, segments[-1][1] + text)
    else:
        segments.append((op, text))


def changed_words(original: str, revised: str) -> tuple[int, int]:
    """How many words the revision removed and added."""
    return count_changed(word_diff(original, revised))


def count_changed(segments: list[Segment]) -> tuple[int, int]:
    """(removed, added) word counts of word_diff segments."""
    removed = sum(len(text.split()) for op, text in segments if op == REMOVED)
    added = sum(len(text.split()) for op, text in segments if op == ADDED)
    return removed, added


def example_text(example: Example, separator: str = PAIR_SEPARATOR) -> str:
    """An example's text; a sentence pair as "premise ‖ hypothesis"."""
    if example.text_b is None:
        return example.text_a
    return f"{example.text_a}{separator}{example.text_b}"


def example_diff(original: Example, revised: Example, separator: str = PAIR_SEPARATOR) -> list[Segment]:
    """word_diff of two examples; sentence pairs are compared part by part."""
    if original.text_b is None or revised.text_b is None:
        return word_diff(example_text(original, separator), example_text(revised, separator))
    segments = word_diff(original.text_a, revised.text_a)
    for op, text in [(SAME, separator)] + word_diff(original.text_b, revised.text_b):
        _append(segments, op, text)
    return segments

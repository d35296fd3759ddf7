"""Exact top-K selection over a list of tensors, as if they were one vector.

Ties are broken by the lower flat index in the concatenation order, so the
result is deterministic and equals ``torch.topk`` over the concatenation
whenever the K-th largest value is not tied.

Algorithm (sample, bracket, count, finish on a small set):

1. A seeded random sample of the scores (``_SAMPLE`` values, stratified over
   the tensors) gives two order statistics ``lo <= hi`` that bracket the K-th
   largest value ``t`` with high probability (± ``_SIGMAS`` binomial standard
   deviations around its expected rank in the sample).
2. One scan over the scores writes ``score > hi`` straight into the output
   mask, counts it, and collects the flat indices and values of the few
   candidates with ``lo <= score <= hi``.
3. If the counts show that ``t`` lies in ``[lo, hi]``, the exact ``t`` is the
   (K - #above)-th largest candidate (``kthvalue`` on that small set; on CUDA
   a stable sort of it); the candidates above ``t`` and then the ties equal to
   ``t`` with the lowest flat indices are switched on. If the bracket missed,
   the interval known to hold ``t`` shrinks and a fresh sample restricted to
   it gives a new bracket. A bracket whose band is one tied value (e.g. all
   scores equal) takes the first ties in index order piece by piece; after
   ``_ROUNDS`` rounds an exact bisection over the float bit patterns (one
   counting pass per bit) finds ``t`` whatever the distribution.

Memory: the scores themselves (on CPU the score tensors are kept as they come
and scanned in cache-sized pieces, never concatenated; on other devices runs
of them are concatenated as they come into a few buffers), the output bool
mask, one piece-sized bool scratch and candidate arrays of at most about
``_SIGMAS * N / sqrt(_SAMPLE)`` entries. There is no int64 index array of
size N, no sort of N values and no second float copy. Scores are assumed free
of NaN.
"""

from __future__ import annotations

import math

from typing import Iterable, Iterator, Sequence

import torch

from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

_SAMPLE = 1 << 18  # sampled values used to bracket the threshold
_SIGMAS = 4.5  # half-width of the bracket, in binomial standard deviations of the sampled rank
_EXACT_BELOW = 1 << 16  # up to this many values, select exactly on the whole set at once
_CPU_PIECE = 1 << 22  # CPU: values scanned per step (the piece and its masks stay in the L3 cache)
_DEVICE_GROUP = 1 << 24  # other devices: scores gathered into buffers of about this many values
_DEVICE_PIECE = 1 << 25  # other devices: values scanned per step (bounds the bool scratch)
_TIE_PIECE = 1 << 22  # values per step when taking the first ties in index order
_ROUNDS = 4  # sampled brackets tried before the exact bisection
_SEED = 0x5EED

_BITS = {torch.float16: torch.int16, torch.bfloat16: torch.int16, torch.float32: torch.int32,
         torch.float64: torch.int64}


def _count(m: torch.Tensor) -> torch.Tensor:
    """Number of True entries of a bool tensor, as a 0-d tensor (no host sync)."""
    if m.device.type == "cpu":  # a dedicated kernel; a CPU sum of bytes is slower
        return torch.count_nonzero(m)
    return m.view(torch.uint8).sum(dtype=torch.int32 if m.numel() < 2**31 else torch.int64)  # no (m != 0) copy


def _kth_largest(v: torch.Tensor, ranks: Sequence[int]) -> list[float]:
    """The r-th largest (1-based) values of a small 1-D tensor, as Python numbers."""
    if v.device.type == "cpu":  # quickselect; a CPU sort is slower
        w = v if v.dtype in (torch.float32, torch.float64) or not v.is_floating_point() else v.float()
        return [torch.kthvalue(w, v.numel() - r + 1).values.item() for r in ranks]
    # kthvalue is slow on CUDA and missing on MPS: one sort, one transfer
    order = torch.sort(v, descending=True).values
    return order[torch.tensor([r - 1 for r in ranks], device=v.device)].tolist()


def _take(v: torch.Tensor, need: int) -> torch.Tensor:
    """Positions of the ``need`` largest entries of a small 1-D tensor, ties to the lower position."""
    if need >= v.numel():
        return torch.arange(v.numel(), device=v.device)
    if v.device.type == "cuda":  # a stable sort keeps tied entries in position order; no host sync
        return torch.sort(v, descending=True, stable=True).indices[:need]
    (t,) = _kth_largest(v, [need])
    above = torch.nonzero(v > t).view(-1)
    left = need - above.numel()
    if left > 0:
        above = torch.cat((above, torch.nonzero(v == t).view(-1)[:left]))
    return above


def _key(x: float, dtype: torch.dtype) -> int:
    """Order-preserving integer key of a float of ``dtype`` (its bit pattern, negatives flipped)."""
    bits = torch.tensor([x], dtype=dtype).view(_BITS[dtype]).item()
    low = -(1 << (torch.finfo(dtype).bits - 1))
    return bits if bits >= 0 else low - bits - 1


def _unkey(key: int, dtype: torch.dtype) -> float:
    low = -(1 << (torch.finfo(dtype).bits - 1))
    bits = key if key >= 0 else low - key - 1
    return torch.tensor([bits], dtype=_BITS[dtype]).view(dtype).item()


class _Scores:
    """1-D score tensors seen as one vector (all of one dtype and device) and its output mask."""

    def __init__(self, parts: Sequence[torch.Tensor], mask: torch.Tensor | None = None):
        self.dtype, self.device = parts[0].dtype, parts[0].device
        self.n = sum(p.numel() for p in parts)
        self.mask = torch.empty(self.n, dtype=torch.bool, device=self.device) if mask is None else mask
        self.parts, offset = [], 0
        for p in parts:
            self.parts.append((p, offset))
            offset += p.numel()
        self.step = _CPU_PIECE if self.device.type == "cpu" else _DEVICE_PIECE

    def pieces(self, step: int) -> Iterator[tuple[torch.Tensor, int]]:
        for p, offset in self.parts:
            for a in range(0, p.numel(), step):
                yield p[a : a + step], offset + a

    def sample(self, size: int, gen: torch.Generator) -> torch.Tensor:
        """About ``size`` values drawn uniformly with replacement, stratified over the parts."""
        out, done = [], 0
        for p, offset in self.parts:
            upto = (offset + p.numel()) * size // self.n
            if upto > done:
                idx = torch.randint(p.numel(), (upto - done,), generator=gen, device=gen.device)
                out.append(p[idx.to(p.device)])
                done = upto
        s = torch.cat(out)
        return s.cpu() if s.device.type == "mps" else s

    def scan(self, lo: float, hi: float, cap: int):
        """mask := scores > hi; returns (#above hi, #in [lo, hi], candidates or None past ``cap``)."""
        cpu = self.device.type == "cpu"
        n_above, band = 0, 0
        idx, val = [], []
        scratch = torch.zeros(-(-min(self.step, self.n) // 8) * 8, dtype=torch.bool, device=self.device)
        for x, offset in self.pieces(self.step):
            m = self.mask[offset : offset + x.numel()]
            torch.gt(x, hi, out=m)
            b = scratch[: x.numel()]
            torch.ge(x, lo, out=b)
            b.bitwise_xor_(m)  # lo <= x <= hi (x > hi implies x >= lo)
            if cpu:
                if band > cap:
                    band += int(_count(b))
                    continue
                # nonzero is slow on CPU: find the nonzero 8-byte words, then the bytes in them
                end = -(-x.numel() // 8) * 8
                scratch[x.numel() : end] = False
                words = torch.nonzero(scratch[:end].view(torch.int64)).view(-1)
                pos = (words.unsqueeze(1) * 8 + torch.arange(8)).view(-1)
                pos = pos[scratch[pos]]
            else:  # both counts in one sync, and no nonzero of a huge band on the device
                c_above, c = torch.stack((_count(m), _count(b))).tolist()
                n_above += c_above
                if band + c > cap:
                    band += c
                    continue
                pos = torch.nonzero(b).view(-1)
            band += pos.numel()
            if band <= cap and pos.numel():
                val.append(x[pos])
                idx.append(pos + offset)
        if cpu:  # one count over the whole mask: one parallel region instead of one per piece
            n_above = int(_count(self.mask))
        if band > cap:
            return n_above, band, None
        if not idx:
            return n_above, band, (torch.empty(0, dtype=torch.long, device=self.device),
                                   torch.empty(0, dtype=self.dtype, device=self.device))
        return n_above, band, (torch.cat(idx), torch.cat(val))

    def count_above(self, t: float) -> int:
        """mask := scores > t; returns how many."""
        for x, offset in self.pieces(self.step):
            torch.gt(x, t, out=self.mask[offset : offset + x.numel()])
        return int(_count(self.mask))

    def take_ties(self, t: float, need: int) -> None:
        """Switch on the first ``need`` entries equal to ``t``, in flat index order."""
        for x, offset in self.pieces(_TIE_PIECE):
            if need <= 0:
                return
            eq = x == t
            c = int(_count(eq))
            if c == 0:
                continue
            m = self.mask[offset : offset + x.numel()]
            if c <= need:
                m.bitwise_or_(eq)
            else:
                m[torch.nonzero(eq).view(-1)[:need]] = True
            need -= c

    def bisect(self, lo: float, hi: float, k: int) -> float:
        """Exact k-th largest value, known to lie in [lo, hi] with fewer than k entries above hi."""
        a, b = _key(lo, self.dtype), _key(hi, self.dtype)
        while a < b:  # smallest key whose value has fewer than k entries above it
            mid = (a + b) // 2
            if self.count_above(_unkey(mid, self.dtype)) < k:
                b = mid
            else:
                a = mid + 1
        return _unkey(b, self.dtype)


def _select(parts: Sequence[torch.Tensor], k: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Flat bool mask (written into ``mask`` if given) of the k largest entries of the
    concatenated 1-D ``parts``, ties to the lower flat index."""
    sc = _Scores(parts, mask)
    n, mask = sc.n, sc.mask
    if k >= n or k <= 0:
        return mask.fill_(k > 0)
    if n <= _EXACT_BELOW or sc.dtype not in _BITS:
        v = torch.cat(list(parts)) if len(parts) > 1 else parts[0]
        if v.device.type == "mps":
            v = v.cpu()
        mask.zero_()
        mask[_take(v, k).to(mask.device)] = True
        return mask

    gen = torch.Generator(device="cuda" if sc.device.type == "cuda" else "cpu").manual_seed(_SEED)
    size = min(_SAMPLE, n)
    lo_known, hi_known, above_known = -math.inf, math.inf, 0  # t in [lo_known, hi_known], above_known > hi_known
    for _ in range(_ROUNDS):
        s = sc.sample(size, gen)
        if lo_known > -math.inf or hi_known < math.inf:
            s = s[(s >= lo_known) & (s <= hi_known)]
        p = (k - above_known) / n  # share of all scores in [t, hi_known]
        q = p * size  # expected rank of t, from the top, in the restricted sample
        margin = _SIGMAS * math.sqrt(size * p * (1 - p)) + 2
        r_hi, r_lo = math.floor(q - margin), math.ceil(q + margin)
        ranks = [min(r_hi, s.numel())] if r_hi >= 1 and s.numel() else []
        ranks += [r_lo] if r_lo <= s.numel() else []
        values = _kth_largest(s, ranks) if ranks else []
        hi = values[0] if r_hi >= 1 and s.numel() else hi_known
        lo = values[-1] if r_lo <= s.numel() else lo_known
        cap = max(4 * math.ceil(2 * margin * n / size), 1 << 12)
        n_above, n_band, cand = sc.scan(lo, hi, cap)
        if n_above > k:  # t > hi
            lo_known = hi
            continue
        if n_above == k:
            return mask
        if n_above + n_band < k:  # t < lo
            hi_known, above_known = lo, n_above + n_band
            continue
        need = k - n_above  # t in [lo, hi]: the need-th largest in the band
        if cand is not None:
            idx, val = cand
            if val.device.type == "mps":
                idx, val = idx.cpu(), val.cpu()
            mask[idx[_take(val, need)].to(mask.device)] = True
            return mask
        if lo == hi:  # the band is one tied value
            sc.take_ties(hi, need)
            return mask
        lo_known, hi_known, above_known = lo, hi, n_above  # band too wide: bracket again inside it

    t = sc.bisect(lo_known, hi_known, k)
    sc.take_ties(t, k - sc.count_above(t))
    return mask


def global_topk_masks(scores: Iterable[torch.Tensor], shapes: Sequence[torch.Size], k: int) -> list[torch.Tensor]:
    """Boolean masks (one per shape) keeping the k globally largest scores.

    ``scores`` may be a generator of freshly computed tensors (one per shape;
    a generator must not refill one buffer between yields); later tensors are
    converted to the first one's dtype and device. On CPU they are kept as they
    come and scanned in place (the scores of all tensors are the one float
    copy); on other devices runs of them are concatenated as they come into
    buffers of about ``_DEVICE_GROUP`` values (fewer launches per scan).
    Exactly k entries are True in total; ties go to the lower flat index in
    the order the tensors are given. The masks are views of one flat mask.
    """
    sizes = [math.prod(shape) for shape in shapes]
    masks: list[torch.Tensor] = []
    parts: list[torch.Tensor] = []
    group: list[torch.Tensor] = []
    mask = dtype = device = None
    start = pending = 0
    for s, size in zip(scores, sizes):
        if s.numel() != size:
            shape = tuple(shapes[len(masks) + len(group)])
            raise ValueError(f"scores of {s.numel()} values for a tensor of shape {shape}")
        if mask is None:
            dtype, device = s.dtype, s.device
            mask = torch.empty(sum(sizes), dtype=torch.bool, device=device)
        elif s.dtype != dtype or s.device != device:
            s = s.to(device=device, dtype=dtype)
        group.append(s)
        pending += size
        if device.type != "cpu" and pending >= _DEVICE_GROUP:
            start = _close_group(group, mask, start, pending, masks, parts)
            group, pending = [], 0
    if len(masks) + len(group) != len(shapes):
        raise ValueError(f"{len(masks) + len(group)} score tensors for {len(shapes)} shapes")
    if mask is None:
        return []
    if group:
        _close_group(group, mask, start, pending, masks, parts)
    _select(parts, k, mask)
    return masks


def _close_group(group, mask, start, size, masks, parts) -> int:
    """Shaped views of the group's share of the mask; its scores as 1-D parts (one buffer off CPU)."""
    masks.extend(_unflatten_dense_tensors(mask[start : start + size], group))
    if mask.device.type == "cpu":
        parts.extend(s.reshape(-1) for s in group)
    else:
        parts.append(_flatten_dense_tensors(group).view(-1))  # one tensor: a view, no copy
    return start + size


def split_k_by_size(sizes: Sequence[int], k: int) -> list[int]:
    """Split k over tensors in proportion to their sizes, summing exactly to k
    (largest remainders first, ties to the earlier tensor)."""
    total = sum(sizes)
    exact = [k * s / total for s in sizes]
    counts = [min(int(e), s) for e, s in zip(exact, sizes)]
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - int(exact[i])), i))
    left = k - sum(counts)
    for i in order:
        if left == 0:
            break
        if counts[i] < sizes[i]:
            counts[i] += 1
            left -= 1
    return counts


def per_tensor_topk_masks(scores: Sequence[torch.Tensor], k: int) -> list[torch.Tensor]:
    """Masks keeping, in each tensor, its share of k (proportional to size)."""
    counts = split_k_by_size([s.numel() for s in scores], k)
    return [_select([s.reshape(-1)], c).view(s.shape) for s, c in zip(scores, counts)]

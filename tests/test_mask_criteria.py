"""Each mask criterion scores entries by its own formula and the mask keeps the K best:
small cases worked out by hand, random cases against a plain numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cast_engine.sparse.mask import score, select_mask

# four entries over two tensors, every value offset by 10 so that θ_ori matters:
#            ori  fac   counter | disagreement |θc−θf|  factual |θf−θo|  joint |θf−θo|+|θc−θo|
# entry 0:   10   10    13      | 3                     0                 3
# entry 1:   10   12    12      | 0                     2                 4
# entry 2:   10   11    13.5    | 2.5                   1                 4.5
# entry 3:   10    8.5  11      | 2.5                   1.5               2.5
ORI = {"a": torch.tensor([10.0, 10.0]), "b": torch.tensor([10.0, 10.0])}
FAC = {"a": torch.tensor([10.0, 12.0]), "b": torch.tensor([11.0, 8.5])}
COUNTER = {"a": torch.tensor([13.0, 12.0]), "b": torch.tensor([13.5, 11.0])}
EXPECTED_SCORES = {
    "disagreement": [3.0, 0.0, 2.5, 2.5],
    "factual_magnitude": [0.0, 2.0, 1.0, 1.5],
    "joint_magnitude": [3.0, 4.0, 4.5, 2.5],
}
EXPECTED_TOP2 = {  # ties go to the lower index (entries 2 and 3 under disagreement)
    "disagreement": {0, 2},
    "factual_magnitude": {1, 3},
    "joint_magnitude": {1, 2},
}


def _flat(masks: dict) -> list[bool]:
    return torch.cat([masks["a"], masks["b"]]).tolist()


@pytest.mark.parametrize("criterion", sorted(EXPECTED_SCORES))
def test_scores_by_hand(criterion):
    got = torch.cat([score(criterion, ORI[n], FAC[n], COUNTER[n]) for n in ("a", "b")])
    assert got.tolist() == EXPECTED_SCORES[criterion]


@pytest.mark.parametrize("criterion", sorted(EXPECTED_TOP2))
def test_global_mask_keeps_the_two_best_entries(criterion):
    masks = select_mask(["a", "b"], criterion, ORI, FAC, COUNTER, k=2, scope="global")
    assert {i for i, kept in enumerate(_flat(masks)) if kept} == EXPECTED_TOP2[criterion]


def test_per_tensor_mask_keeps_the_best_of_each_tensor():
    # K = 2 over two tensors of 2 entries: one each; disagreement: a -> entry 0, b -> entry 2 (tie, lower index)
    masks = select_mask(["a", "b"], "disagreement", ORI, FAC, COUNTER, k=2, scope="per_tensor")
    assert _flat(masks) == [True, False, True, False]
    masks = select_mask(["a", "b"], "joint_magnitude", ORI, FAC, COUNTER, k=2, scope="per_tensor")
    assert _flat(masks) == [False, True, True, False]


def test_factual_magnitude_needs_no_counterfactual_weights():
    masks = select_mask(["a", "b"], "factual_magnitude", ORI, FAC, None, k=1)
    assert _flat(masks) == [False, True, False, False]


def test_unknown_criterion_and_scope_are_refused():
    with pytest.raises(ValueError, match="mask criterion 'size'"):
        score("size", ORI["a"], FAC["a"], COUNTER["a"])
    with pytest.raises(ValueError, match="mask scope 'layer'"):
        select_mask(["a"], "disagreement", ORI, FAC, COUNTER, k=1, scope="layer")


REFERENCE = {
    "disagreement": lambda o, f, c: np.abs(c - f),
    "factual_magnitude": lambda o, f, c: np.abs(f - o),
    "joint_magnitude": lambda o, f, c: np.abs(f - o) + np.abs(c - o),
}


@pytest.mark.parametrize("criterion", sorted(REFERENCE))
def test_random_weights_match_a_numpy_reference(criterion):
    gen = torch.Generator().manual_seed(11)
    shapes = {"w": (7, 5), "b": (5,), "e": (3, 4)}
    names = list(shapes)
    ori = {n: torch.randn(s, generator=gen) for n, s in shapes.items()}
    fac = {n: ori[n] + 0.1 * torch.randn(s, generator=gen) for n, s in shapes.items()}
    counter = {n: ori[n] + 0.1 * torch.randn(s, generator=gen) for n, s in shapes.items()}
    k = 9
    masks = select_mask(names, criterion, ori, fac, counter, k)
    flat = np.concatenate([REFERENCE[criterion](ori[n].double().numpy(), fac[n].double().numpy(),
                                                counter[n].double().numpy()).ravel() for n in names])
    expected = set(np.argsort(-flat, kind="stable")[:k].tolist())
    got = torch.cat([masks[n].reshape(-1) for n in names])
    assert set(torch.nonzero(got).reshape(-1).tolist()) == expected
    assert all(masks[n].shape == ori[n].shape and masks[n].dtype == torch.bool for n in names)

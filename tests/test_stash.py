"""Optimiser snapshots: a restore puts back exactly what was saved, as torch's own state_dict round trip does."""

import copy

import pytest
import torch

from cast_engine.train.stash import OptimizerStash


def _model_and_optimizer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Linear(5, 3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, foreach=True)
    return model, optimizer


def _step(model, optimizer, seed: int, only_first: bool = False):
    torch.manual_seed(seed)
    loss = model[0](torch.randn(4, 6)).sum() if only_first else model(torch.randn(4, 6)).sum()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _state(optimizer):
    return copy.deepcopy(optimizer.state_dict())


@pytest.mark.parametrize("mode", ["file", "device"])
def test_restore_puts_back_every_moment_and_hyperparameter(mode):
    model, optimizer = _model_and_optimizer()
    stash = OptimizerStash(torch.device("cpu"))
    stash.mode = mode
    _step(model, optimizer, 1)
    saved_state = _state(optimizer)
    saved = stash.save(optimizer)
    for seed in (2, 3):
        _step(model, optimizer, seed)
    optimizer.param_groups[0]["lr"] = 0.5
    stash.restore(optimizer, saved)
    restored = optimizer.state_dict()
    assert restored["param_groups"] == saved_state["param_groups"]
    for index, entry in saved_state["state"].items():
        for key, value in entry.items():
            assert torch.equal(restored["state"][index][key], value), (index, key)
    stash.restore(optimizer, saved)  # a saved state can be restored again
    assert torch.equal(optimizer.state_dict()["state"][0]["exp_avg"], saved_state["state"][0]["exp_avg"])


def test_restoring_a_state_saved_before_any_step_forgets_the_moments():
    model, optimizer = _model_and_optimizer()
    stash = OptimizerStash(torch.device("cpu"))
    empty = stash.save(optimizer)
    _step(model, optimizer, 1)
    stash.restore(optimizer, empty)
    assert optimizer.state_dict()["state"] == {}


def test_training_after_a_restore_matches_torchs_own_round_trip():
    ours_model, ours_opt = _model_and_optimizer()
    ref_model, ref_opt = _model_and_optimizer()
    stash = OptimizerStash(torch.device("cpu"))
    for model, opt in ((ours_model, ours_opt), (ref_model, ref_opt)):
        _step(model, opt, 1, only_first=True)  # the second layer has no moments yet
    saved, reference = stash.save(ours_opt), _state(ref_opt)
    for model, opt in ((ours_model, ours_opt), (ref_model, ref_opt)):
        _step(model, opt, 2)
    stash.restore(ours_opt, saved)
    ref_opt.load_state_dict(reference)
    for model, opt in ((ours_model, ours_opt), (ref_model, ref_opt)):
        _step(model, opt, 3)
    for ours, ref in zip(ours_model.parameters(), ref_model.parameters()):
        assert torch.equal(ours, ref)


def test_cpu_snapshots_live_in_a_file_that_goes_away_with_them():
    model, optimizer = _model_and_optimizer()
    stash = OptimizerStash(torch.device("cpu"))
    _step(model, optimizer, 1)
    saved = stash.save(optimizer)
    path = saved.path
    assert path.exists() and path.stat().st_size > 0
    del saved
    assert not path.exists()

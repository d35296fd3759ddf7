"""CAST's mask and merge against equations 1–3 of the paper, on a toy model;
LT-SFT's masked phase leaves unmasked entries bit-identical with weight decay on."""

from __future__ import annotations

import torch

from cast_engine.config import RunConfig, TrainConfig
from cast_engine.methods.cast import CastConfig
from cast_engine.methods.cast.method import Cast
from cast_engine.sparse.mask import cast_merge, select_mask
from cast_engine.train.batches import TokenizedSet
from cast_engine.train.events import MaskComputed
from cast_engine.train.trainer import Trainer, TokenizedSplit, TrainingData


class ToyClassifier(torch.nn.Module):
    """Embedding-bag classifier with an HF-like interface (input_ids → .logits)."""

    base_model_prefix = "body"

    def __init__(self, vocab: int = 40, dim: int = 8, labels: int = 2):
        super().__init__()
        self.body = torch.nn.ModuleDict({"embeddings": torch.nn.Embedding(vocab, dim), "layer": torch.nn.Linear(dim, dim)})
        self.classifier = torch.nn.Linear(dim, labels)

    def forward(self, input_ids, attention_mask=None, **_):
        h = self.body["embeddings"](input_ids)
        mask = attention_mask.unsqueeze(-1).float()
        h = (h * mask).sum(1) / mask.sum(1)
        return type("Out", (), {"logits": self.classifier(torch.tanh(self.body["layer"](h)))})()


class ToyTokenizer:
    pad_token_id = 0


def toy_set(seed: int, n: int = 24) -> TokenizedSet:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 40, (n, 6), generator=g).tolist()
    labels = [int(row[0] % 2) for row in ids]
    return TokenizedSet({"input_ids": ids, "attention_mask": [[1] * 6 for _ in ids]}, labels)


def toy_trainer(weight_decay: float = 0.0, optimizer: str = "adamw") -> Trainer:
    torch.manual_seed(0)
    fac, cf = toy_set(1), toy_set(2)
    union = TokenizedSet({k: fac.features[k] + cf.features[k] for k in fac.features}, fac.labels + cf.labels)
    split = TokenizedSplit(toy_set(3, 8), toy_set(4, 8), [(i, i) for i in range(8)])
    data = TrainingData(fac, cf, union, split, split, 2)
    config = RunConfig(train=TrainConfig(lr=0.05, batch_size=8, weight_decay=weight_decay, optimizer=optimizer, device="cpu"))
    trainer = Trainer(ToyClassifier(), ToyTokenizer(), config, data, torch.device("cpu"), lambda e: None)
    trainer.new_optimizer(100)
    return trainer


def test_merge_matches_equations_1_to_3():
    trainer = toy_trainer()
    alpha, k = 0.07, 37
    method = Cast(CastConfig(alpha=alpha, k=str(k)))
    method.prepare(trainer.model)
    events = []
    trainer.emit = events.append
    # the iteration by hand: θ_ori, factual pass, restore, counterfactual pass
    ori = trainer.snapshot()
    opt0 = trainer.optimizer_state()
    trainer.train_pass(trainer.data.factual, "factual pass")
    fac = trainer.snapshot()
    trainer.load(ori)
    trainer.restore_optimizer(opt0)
    trainer.train_pass(trainer.data.counterfactual, "counterfactual pass", pass_index=1)
    counter = trainer.snapshot()
    masks = method.merge(trainer, ori, fac)
    merged = trainer.snapshot()

    # Eq. 1 and the top-K: exactly K entries, the K largest |θ_counter − θ_fac| over all tensors
    names = list(ori)
    delta = torch.cat([(counter[n] - fac[n]).abs().flatten() for n in names])
    chosen = torch.cat([masks[n].flatten() for n in names])
    assert int(chosen.sum()) == k
    assert delta[chosen].min() >= delta[~chosen].max()
    for n in names:
        m = masks[n]
        rol = ori[n] + (fac[n] - ori[n]) * m  # Eq. 2
        expected = rol + alpha * (counter[n] - fac[n]) * m  # Eq. 3
        torch.testing.assert_close(merged[n], expected, rtol=0, atol=1e-7)
        assert torch.equal(merged[n][~m], ori[n][~m]), f"{n}: entries outside the mask must be θ_ori bit for bit"
    mask_events = [e for e in events if isinstance(e, MaskComputed)]
    assert mask_events[-1].kept == k and sum(v[0] for v in mask_events[-1].per_layer.values()) == k


def test_iteration_restores_optimizer_and_records_jaccard():
    trainer = toy_trainer()
    method = Cast(CastConfig(alpha=0.05, k="50"))
    method.prepare(trainer.model)
    events = []
    trainer.emit = events.append
    before = trainer.snapshot()
    trainer.epoch = 1
    method.iteration(trainer)
    trainer.epoch = 2
    method.iteration(trainer)
    after = trainer.snapshot()
    changed = sum(int((after[n] != before[n]).sum()) for n in before)
    assert 0 < changed <= 100  # two masks of 50 entries each
    masks = [e for e in events if isinstance(e, MaskComputed)]
    assert masks[0].jaccard is None and 0.0 <= masks[1].jaccard <= 1.0
    # the schedule continues from the factual pass: one factual pass of steps per iteration
    assert trainer.scheduler.last_epoch == 2 * trainer.steps_in(trainer.data.factual)


def test_mask_criteria_and_scope():
    g = torch.Generator().manual_seed(0)
    ori = {"a": torch.randn(10, 10, generator=g), "b": torch.randn(50, generator=g)}
    fac = {n: t + torch.randn(t.shape, generator=g) for n, t in ori.items()}
    counter = {n: t + torch.randn(t.shape, generator=g) for n, t in ori.items()}
    for criterion in ("disagreement", "factual_magnitude", "joint_magnitude"):
        masks = select_mask(["a", "b"], criterion, ori, fac, counter, 30)
        assert sum(int(m.sum()) for m in masks.values()) == 30
    per = select_mask(["a", "b"], "disagreement", ori, fac, counter, 30, scope="per_tensor")
    assert int(per["a"].sum()) == 20 and int(per["b"].sum()) == 10
    fm = select_mask(["a", "b"], "factual_magnitude", ori, fac, counter, 5)
    top = torch.cat([(fac[n] - ori[n]).abs().flatten() for n in "ab"]).topk(5).values
    assert torch.equal(torch.cat([(fac[n] - ori[n]).abs()[fm[n]].flatten() for n in "ab"]).sort(descending=True).values, top)


def test_dense_merge_without_mask():
    ori, fac, counter = torch.zeros(4), torch.ones(4), torch.full((4,), 3.0)
    param = counter.clone()
    cast_merge(param, ori, fac, counter, 0.5, None)
    assert torch.equal(param, torch.full((4,), 2.0))  # 0 + 1 + 0.5·(3 − 1)


def _masked_training_keeps_unmasked(optimizer: str):
    trainer = toy_trainer(weight_decay=0.1, optimizer=optimizer)
    # an optimiser with history: moments are non-zero everywhere before the masked phase
    trainer.train_pass(trainer.data.factual, "warm-up")
    start = trainer.snapshot()
    g = torch.Generator().manual_seed(5)
    masks = {n: torch.rand(t.shape, generator=g) < 0.2 for n, t in start.items() if n != "classifier.bias"}
    trainer.train_pass(trainer.data.union, "masked", masks=masks)
    trainer.train_pass(trainer.data.union, "masked", masks=masks)
    end = trainer.snapshot()
    for n, m in masks.items():
        assert torch.equal(end[n][~m], start[n][~m]), f"{n}: an unmasked entry moved"
        assert not torch.equal(end[n][m], start[n][m]), f"{n}: masked entries did not train"
    assert not torch.equal(end["classifier.bias"], start["classifier.bias"])  # unmasked tensors train densely
    assert trainer.optimizer.param_groups[0]["weight_decay"] == 0.1  # decay restored after the pass


def test_masked_training_is_bit_exact_outside_the_mask_adamw_with_decay():
    _masked_training_keeps_unmasked("adamw")


def test_masked_training_is_bit_exact_outside_the_mask_adam_with_decay():
    _masked_training_keeps_unmasked("adam")


def test_lt_sft_phase_two_changes_only_masked_entries(tiny_config, tiny_model_dir, store_path):
    from cast_engine.export.delta import load_trained
    from cast_engine.models import load_classifier
    from cast_engine.store import RunStore
    from cast_engine.runs.runner import run

    config = tiny_config("lt_sft", method_options={"k": "300"}, weight_decay=0.01, max_epochs=1)
    result = run(config, store=store_path)
    assert result.status == "completed", result.reason
    with RunStore(store_path) as store:
        trained, _, _ = load_trained(store.artifact_dir(result.run_id) / "delta.safetensors")
    base, _ = load_classifier(str(tiny_model_dir), ["Negative", "Positive"])
    base_state = base.state_dict()
    # everything was reset to θ_0, then only the 300 masked entries (and the dense head) trained
    changed = {n: int((t != base_state[n]).sum()) for n, t in trained.state_dict().items() if not n.startswith("classifier.")}
    assert 0 < sum(changed.values()) <= 300
    assert not any(changed[n] for n in changed if "LayerNorm" in n)


def _reference_iteration(trainer, alpha: float, k: int) -> None:
    """A CAST iteration written plainly: deep copies of torch's state_dicts, torch.topk over all of Δ."""
    import copy

    params = dict(trainer.trainable())
    ori = {n: p.detach().clone() for n, p in params.items()}
    opt_ori, sched_ori = copy.deepcopy(trainer.optimizer.state_dict()), trainer.scheduler.state_dict()
    trainer.train_pass(trainer.data.factual, "factual pass")
    fac = {n: p.detach().clone() for n, p in params.items()}
    opt_fac, sched_fac = copy.deepcopy(trainer.optimizer.state_dict()), trainer.scheduler.state_dict()
    trainer.load(ori)
    trainer.optimizer.load_state_dict(opt_ori)
    trainer.scheduler.load_state_dict(sched_ori)
    trainer.train_pass(trainer.data.counterfactual, "counterfactual pass", pass_index=1)
    names = list(params)
    delta = torch.cat([(params[n].detach() - fac[n]).abs().flatten() for n in names])
    chosen = torch.zeros_like(delta, dtype=torch.bool)
    chosen[torch.topk(delta, k).indices] = True
    start = 0
    with torch.no_grad():
        for n in names:
            p, size = params[n], params[n].numel()
            m = chosen[start:start + size].view_as(p)
            start += size
            merged = (ori[n] + (fac[n] - ori[n])) + alpha * (p - fac[n])
            p.copy_(torch.where(m, merged, ori[n]))
    trainer.optimizer.load_state_dict(opt_fac)
    trainer.scheduler.load_state_dict(sched_fac)


def test_three_iterations_match_a_plain_reference_bit_for_bit():
    """The speed work (in-place optimiser restores from a file, chunked merge, exact top-K) changes no number."""
    alpha, k = 0.05, 61
    ours, reference = toy_trainer(weight_decay=0.01), toy_trainer(weight_decay=0.01)
    for trainer in (ours, reference):
        trainer.train_cfg.group_by_length = False
    method = Cast(CastConfig(alpha=alpha, k=str(k)))
    method.prepare(ours.model)
    for epoch in (1, 2, 3):
        ours.epoch = reference.epoch = epoch
        method.iteration(ours)
        _reference_iteration(reference, alpha, k)
        for (name, a), (_, b) in zip(ours.trainable(), reference.trainable()):
            assert torch.equal(a, b), f"epoch {epoch}: {name} differs from the reference"

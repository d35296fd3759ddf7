"""What every method implementation provides, with the plain fine-tuning defaults."""

from __future__ import annotations

import torch

from ..train.trainer import Trainer


TRAIN = "train"  # the stage of plain fine-tuning


class Method:
    """Prepares the model (what trains) and defines how a run trains it.

    The default is plain fine-tuning of whatever ``prepare`` left trainable
    on the regime's training set (originals, or originals and revisions).
    What a method is without torch (title, masks, K) is on its config class
    (``cast_engine.settings.MethodConfig``).
    """

    #: The names of the early-stopping stages ``train`` runs (``trainer.fit``), in order; a
    #: checkpoint names the stage it was written in and a resumed run starts there.
    stages: tuple[str, ...] = (TRAIN,)

    def __init__(self, config):
        self.config = config

    def prepare(self, model) -> torch.nn.Module:
        """Freeze, wrap or extend the model; returns the model to train."""
        for p in model.parameters():
            p.requires_grad_(True)
        return model

    def planned_steps(self, trainer: Trainer) -> int:
        data = trainer.data.baseline_set(trainer.config.regime)
        return trainer.steps_in(data) * trainer.train_cfg.max_epochs

    def train(self, trainer: Trainer) -> None:
        """Train with early stopping on the regime's training set."""
        data = trainer.data.baseline_set(trainer.config.regime)
        trainer.new_optimizer(self.planned_steps(trainer))
        trainer.fit(TRAIN, lambda epoch: {"train_loss": trainer.train_pass(data, "training")},
                    trainer.train_cfg.max_epochs)

    def describe(self) -> dict:
        """Settings the method resolved for this model (K as a count, a rank…), for the record."""
        return {}

    # ------------------------------------------------------------- export hooks
    def export_model(self, model) -> torch.nn.Module:
        """The model as a plain Hugging Face classifier (merged, unwrapped)."""
        return model

    def export_extra(self) -> dict:
        """What a saved delta needs besides weights to rebuild the model's structure (JSON-able)."""
        return {}

    @classmethod
    def rebuild(cls, model, extra: dict) -> torch.nn.Module:
        """Give a freshly loaded base model the structure ``export_extra`` described (before weights load)."""
        return model

    @classmethod
    def save_extra_files(cls, model, folder, extra: dict) -> dict:
        """Write files a Hugging Face export folder needs besides the model's own; returns notes for
        cast_export.json (how to load the folder)."""
        return {}

    @classmethod
    def load_extra_files(cls, model, folder) -> torch.nn.Module:
        """Read back what ``save_extra_files`` wrote into an exported folder."""
        return model


def head_names(model) -> set[str]:
    """Names of the parameters outside the base model (the classification head)."""
    prefix = getattr(model, "base_model_prefix", "") + "."
    return {n for n, _ in model.named_parameters() if not n.startswith(prefix)}


def set_trainable(model, names: set[str]) -> None:
    """Train exactly the named parameters."""
    for n, p in model.named_parameters():
        p.requires_grad_(n in names)

"""Houlsby adapters (AdapterHub ``adapters``, DoubleSeqBnConfig)."""

from __future__ import annotations

from pathlib import Path

from ..base import Method, head_names

ADAPTER_NAME = "cast"


def adapter_config(reduction_factor: float, non_linearity: str):
    from adapters import DoubleSeqBnConfig

    return DoubleSeqBnConfig(reduction_factor=reduction_factor, non_linearity=non_linearity)


def add_adapter(model, reduction_factor: float, non_linearity: str):
    """Attach and activate the Houlsby adapter (used by training and by loading exports)."""
    import adapters

    adapters.init(model)
    model.add_adapter(ADAPTER_NAME, config=adapter_config(reduction_factor, non_linearity))
    model.set_active_adapters(ADAPTER_NAME)
    return model


class Adapters(Method):
    def prepare(self, model):
        cfg = self.config
        self.reduction_factor = cfg.reduction_factor or self.auto_reduction(model)
        add_adapter(model, self.reduction_factor, cfg.non_linearity)
        model.train_adapter(ADAPTER_NAME)
        heads = head_names(model)
        for n, p in model.named_parameters():
            if n in heads:
                p.requires_grad_(True)  # the classification head trains with the adapters
        return model

    def describe(self) -> dict:
        return {"reduction_factor": self.reduction_factor}

    def export_extra(self) -> dict:
        """What a delta needs to rebuild the adapter's structure."""
        return {"adapter": {"reduction_factor": self.reduction_factor, "non_linearity": self.config.non_linearity}}

    @classmethod
    def rebuild(cls, model, extra: dict):
        adapter = extra.get("adapter")
        if adapter:
            add_adapter(model, adapter["reduction_factor"], adapter["non_linearity"])
        return model

    @classmethod
    def save_extra_files(cls, model, folder, extra: dict) -> dict:
        """Houlsby adapters cannot be merged into the weights: the adapter is saved beside them."""
        if not extra.get("adapter"):
            return {}
        model.save_adapter(str(Path(folder) / "adapter"), ADAPTER_NAME)
        return {"load": ("Houlsby adapters cannot be merged into the weights: load with "
                         "cast_engine.export.load_exported(folder), or with the adapters library "
                         "(adapters.init(model); model.load_adapter(folder/'adapter'); model.set_active_adapters('cast')).")}

    @classmethod
    def load_extra_files(cls, model, folder):
        if (Path(folder) / "adapter").exists():
            import adapters

            adapters.init(model)
            model.load_adapter(str(Path(folder) / "adapter"))
            model.set_active_adapters(ADAPTER_NAME)
        return model

    def auto_reduction(self, model) -> float:
        """The reduction factor whose trainable share is closest to target_share."""
        config = model.config
        hidden, layers = config.hidden_size, config.num_hidden_layers
        total = sum(p.numel() for p in model.parameters())
        heads = head_names(model)
        head = sum(p.numel() for n, p in model.named_parameters() if n in heads)
        budget = max(self.config.target_share * total - head, 1)
        # two adapters per layer, each ≈ 2·hidden·bottleneck weights
        bottleneck = max(1, round(budget / (layers * 2 * (2 * hidden + 1))))
        return hidden / bottleneck

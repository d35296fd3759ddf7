"""BitFit (Ben Zaken et al., 2022)."""

from ..base import Method, head_names, set_trainable


class BitFit(Method):
    def prepare(self, model):
        names = {n for n, _ in model.named_parameters() if n.endswith(".bias")} | head_names(model)
        set_trainable(model, names)
        return model

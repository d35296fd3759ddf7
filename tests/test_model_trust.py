"""Code runs only because it was asked to; a run knows exactly which base model it started from;
an export either completes or leaves nothing behind."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from cast_engine.errors import CastError, ConfigError, ModelError
from cast_engine.export import export_run
from cast_engine.models.identity import weights_sha256
from cast_engine.store import RunStore
from cast_engine.train.events import CancelToken, EpochEnded
from cast_engine.runs.runner import resume, run


@pytest.fixture
def own_base(tiny_model_dir, tmp_path) -> Path:
    """A copy of the tiny base model that a test may change."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "base"))


def _change_weights(folder: Path) -> None:
    weights = load_file(folder / "model.safetensors")
    name = sorted(weights)[0]
    weights[name] = weights[name] + 1.0
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})


def _stop_after_first_epoch(token: CancelToken):
    def sink(event):
        if isinstance(event, EpochEnded) and event.epoch == 1:
            token.cancel("test stop after epoch 1")
    return sink


def test_the_base_model_is_recorded_with_a_hash_of_its_weights(tiny_config, own_base, store_path, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = tiny_config("bitfit", max_epochs=1)
    config.model = "base"  # a relative folder: the record must not depend on the working folder
    result = run(config, store=store_path)
    with RunStore(store_path) as store:
        base = store.get_run(result.run_id)["versions"]["base_model"]
    assert base["path"] == str(own_base.resolve()) and Path(base["path"]).is_absolute()
    assert base["weights_sha256"] == weights_sha256(own_base) and len(base["weights_sha256"]) == 64


def test_resume_refuses_a_changed_base_model(tiny_config, own_base, store_path):
    config = tiny_config("full", max_epochs=3, checkpoint=True)
    config.model = str(own_base)
    token = CancelToken()
    stopped = run(config, store=store_path, sinks=[_stop_after_first_epoch(token)], cancel=token)
    assert stopped.status == "cancelled"
    _change_weights(own_base)
    with pytest.raises(CastError, match=r"another base model.*weights differ") as info:
        resume(stopped.run_id, store=store_path)
    assert str(own_base) in str(info.value)
    with RunStore(store_path) as store:
        assert store.get_run(stopped.run_id)["status"] == "cancelled"  # left as it was


def test_export_refuses_a_changed_base_model(tiny_config, own_base, store_path, tmp_path):
    config = tiny_config("bitfit", max_epochs=1)
    config.model = str(own_base)
    result = run(config, store=store_path)
    _change_weights(own_base)
    with RunStore(store_path) as store:
        with pytest.raises(ModelError, match="another base model"):
            export_run(store, result.run_id, "hf", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_models_are_loaded_without_remote_code(tiny_config, store_path, tmp_path, monkeypatch):
    """Every load asks for trust_remote_code=False explicitly, the base model of a delta too."""
    import transformers

    asked = []
    for cls in (transformers.AutoModelForSequenceClassification, transformers.AutoTokenizer):
        original = cls.from_pretrained.__func__

        def spy(klass, *args, _original=original, **kwargs):
            asked.append((klass.__name__, kwargs.get("trust_remote_code", "not given")))
            return _original(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    from cast_engine.export import load_exported
    from cast_engine.models import loading

    monkeypatch.setattr(loading, "_TOKENIZERS", threading.local())  # no tokenizer kept from an earlier test
    result = run(tiny_config("bitfit", max_epochs=1), store=store_path)
    with RunStore(store_path) as store:
        export_run(store, result.run_id, "hf", tmp_path / "hf")
        export_run(store, result.run_id, "delta", tmp_path / "delta")
    load_exported(tmp_path / "hf")
    load_exported(tmp_path / "delta")
    assert len(asked) >= 7  # a thread reuses the tokenizer it loaded while the model files are unchanged
    assert {name for name, _ in asked} == {"AutoTokenizer", "AutoModelForSequenceClassification"}
    assert {value for _, value in asked} == {False}, asked


def test_a_model_that_brings_its_own_code_is_refused_and_the_code_never_runs(tiny_model_dir, tmp_path):
    from cast_engine.models import load_classifier

    folder = Path(shutil.copytree(tiny_model_dir, tmp_path / "custom"))
    marker = tmp_path / "code-ran"
    (folder / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    config = json.loads((folder / "config.json").read_text())
    config.update({"model_type": "evil-bert", "auto_map": {"AutoModelForSequenceClassification": "modeling_evil.EvilModel",
                                                           "AutoConfig": "modeling_evil.EvilConfig"}})
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="could not be loaded"):
        load_classifier(str(folder), ["negative", "positive"])
    assert not marker.exists()


# ------------------------------------------------------------------------------ exports


@pytest.fixture
def completed_run(tiny_config, store_path):
    return run(tiny_config("bitfit", max_epochs=1), store=store_path).run_id


def test_a_failed_export_leaves_no_half_written_folder(completed_run, store_path, tmp_path, monkeypatch):
    import transformers

    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(transformers.PreTrainedTokenizerBase, "save_pretrained", disk_full)
    with RunStore(store_path) as store:
        with pytest.raises(ConfigError, match="No space left on device") as info:
            export_run(store, completed_run, "hf", tmp_path / "model")
    assert "nothing was left there" in str(info.value)
    assert not (tmp_path / "model").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".model")] == []


def test_an_export_into_an_empty_folder_fills_it(completed_run, store_path, tmp_path):
    (tmp_path / "model").mkdir()
    with RunStore(store_path) as store:
        export_run(store, completed_run, "hf", tmp_path / "model")
    assert (tmp_path / "model" / "config.json").is_file() and (tmp_path / "model" / "cast_export.json").is_file()


def test_an_export_to_an_unwritable_place_is_a_clear_error(completed_run, store_path, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with RunStore(store_path) as store:
        with pytest.raises(ConfigError, match="cannot write there"):
            export_run(store, completed_run, "delta", tmp_path / "a-file" / "out")
    assert (tmp_path / "a-file").read_text() == "not a folder"


def test_dependencies_exclude_loaders_that_can_run_code():
    """torch < 2.6's weights_only loader can be bypassed; Ray < 2.52 exposes more of a cluster."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.version import Version

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    wanted = {"torch": Version("2.6"), "ray": Version("2.52")}
    requirements = [Requirement(r) for r in project["dependencies"]]
    requirements += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    seen = set()
    for requirement in requirements:
        if requirement.name in wanted:
            seen.add(requirement.name)
            assert not requirement.specifier.contains(_just_below(wanted[requirement.name])), requirement
            assert requirement.specifier.contains(str(wanted[requirement.name])), requirement
    assert seen == set(wanted)


def _just_below(version) -> str:
    return f"{version.major}.{version.minor - 1}.99"

"""lib_dnp.webui.platform without a WebUI: which WebUI it detects, and the call it makes in each."""

from __future__ import annotations

import sys
import types

import pytest

from lib_dnp.webui import platform


def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


@pytest.fixture
def forge(monkeypatch):
    """Forge's backend importable, as in a Forge process."""
    for name in ("backend", "backend.diffusion_engine"):
        monkeypatch.setitem(sys.modules, name, _module(name))
    base = _module("backend.diffusion_engine.base", ForgeDiffusionEngine=type("ForgeDiffusionEngine", (), {}))
    monkeypatch.setitem(sys.modules, "backend.diffusion_engine.base", base)
    platform.is_forge.cache_clear()
    yield
    platform.is_forge.cache_clear()


@pytest.fixture
def a1111(monkeypatch):
    """No Forge backend: a None entry in sys.modules makes its import fail, as in the A1111 WebUI."""
    monkeypatch.setitem(sys.modules, "backend.diffusion_engine.base", None)
    platform.is_forge.cache_clear()
    yield
    platform.is_forge.cache_clear()


def _webui_modules(monkeypatch, **modules) -> None:
    package = _module("modules", **modules)
    monkeypatch.setitem(sys.modules, "modules", package)
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, f"modules.{name}", module)


def test_detects_forge_by_its_backend(forge):
    assert platform.is_forge() and platform.name() == "Forge"


def test_detects_a1111_when_the_backend_does_not_import(a1111):
    assert not platform.is_forge() and platform.name() == "AUTOMATIC1111"


class _Chunker:
    def process_texts(self, texts):
        return [[text] for text in texts], 0


def test_prompt_chunker_on_forge_is_the_models_text_engine(forge, monkeypatch):
    engine = _Chunker()
    model = types.SimpleNamespace(text_processing_engine=None, text_processing_engine_l=engine)
    _webui_modules(monkeypatch, shared=_module("modules.shared", sd_model=model))
    assert platform.prompt_chunker() is engine


def test_prompt_chunker_on_a1111_is_the_hijacked_clip(a1111, monkeypatch):
    clip = _Chunker()
    hijack = types.SimpleNamespace(clip=clip)
    _webui_modules(monkeypatch, sd_hijack=_module("modules.sd_hijack", model_hijack=hijack))
    assert platform.prompt_chunker() is clip


def test_no_chunker_is_an_error_naming_the_webui(a1111, monkeypatch):
    _webui_modules(monkeypatch, sd_hijack=_module("modules.sd_hijack", model_hijack=types.SimpleNamespace()))
    with pytest.raises(RuntimeError, match="AUTOMATIC1111"):
        platform.prompt_chunker()


def test_loaded_model_on_forge_loads_the_checkpoint(forge, monkeypatch):
    """Forge's shared.sd_model is a placeholder until a generation loads the checkpoint: ask its loader."""
    model = object()
    calls = []
    loader = _module("modules.sd_models", forge_model_reload=lambda: calls.append(1) or (model, True))
    _webui_modules(monkeypatch, sd_models=loader, shared=_module("modules.shared", sd_model="placeholder"))
    assert platform.loaded_model() is model and calls == [1]


def test_loaded_model_on_a1111_is_the_shared_model(a1111, monkeypatch):
    model = object()
    _webui_modules(monkeypatch, shared=_module("modules.shared", sd_model=model))
    assert platform.loaded_model() is model


def _api_models(monkeypatch):
    """A WebUI whose `modules.api.models` was imported before the extension registered its options (Forge's case)."""
    from pydantic import create_model

    models = _module(
        "modules.api.models", OptionsModel=create_model("Options", samples_save=(bool | None, True))
    )
    opts = types.SimpleNamespace(typemap={int: float})
    _webui_modules(monkeypatch, shared=_module("modules.shared", opts=opts))
    monkeypatch.setitem(sys.modules, "modules.api.models", models)
    return models


def _option(default, label: str):
    return types.SimpleNamespace(default=default, label=label)


def _description(model, key: str) -> str:
    if hasattr(model, "model_fields"):  # pydantic 2
        return model.model_fields[key].description
    return model.__fields__[key].field_info.description


def test_published_options_are_in_forges_options_answer(forge, monkeypatch):
    models = _api_models(monkeypatch)
    platform.publish_options(
        {"dnp_cache_size": _option(32, "size"), "dnp_api_may_download": _option(False, "dl")}
    )
    answer = models.OptionsModel(**{"samples_save": False, "dnp_cache_size": 3, "other": 1})
    # the route answers with the model's fields only: the options registered before, and now DNP's
    dump = answer.model_dump() if hasattr(answer, "model_dump") else answer.dict()  # pydantic 2 or 1.x
    assert dump == {"samples_save": False, "dnp_cache_size": 3, "dnp_api_may_download": False}
    assert _description(models.OptionsModel, "dnp_cache_size") == "size"
    before = models.OptionsModel
    platform.publish_options(
        {"dnp_cache_size": _option(32, "size")}
    )  # again (on_ui_settings): nothing to add
    assert models.OptionsModel is before


def test_options_are_left_to_a1111(a1111, monkeypatch):
    models = _api_models(monkeypatch)
    before = models.OptionsModel
    platform.publish_options({"dnp_cache_size": _option(32, "size")})
    assert models.OptionsModel is before


def test_options_wait_for_a_model_not_built_yet(forge, monkeypatch):
    _api_models(monkeypatch)
    monkeypatch.delitem(sys.modules, "modules.api.models")
    platform.publish_options({"dnp_cache_size": _option(32, "size")})  # built later, from opts: nothing to do
    assert "modules.api.models" not in sys.modules

"""What differs between the AUTOMATIC1111 WebUI and its fork Forge, in one place.

The rest of the adapter calls these functions and never asks which WebUI it runs in. The WebUI is told apart the
way cross-UI extensions do it, by what imports rather than by version strings: Forge replaced the ldm/sgm model
code with its own backend, whose `ForgeDiffusionEngine` exists only there.

Known differences that need no code here, because the adapter's way already works on both:
- `on_cfg_denoiser` fires in both, before the conds are used, so the DNS swap is the same. (Forge never fires
  `on_cfg_denoised` and `params.x` is the bare latent batch there, which the adapter does not use.)
- Forge drops the uncond pass when the CFG scale is 1; the DNS pass samples at s + 1 >= 2, so that never applies.
- NGMS (`s_min_uncond`) forces CFG 1 on some steps in both; the DNS pass sets it to 0 on its own processing object.
- `skip_early_cond` forces CFG 1 on the first steps in both; the DNS pass neutralises it (dns_pass.NEUTRAL_OPTIONS).
  (In both, an option overridden by a request's override_settings stays set after it when config.json lacked it:
  process_images restores only what `opts.data` held. That is the WebUI's, with or without DNP.)
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

NAME_A1111 = "AUTOMATIC1111"
NAME_FORGE = "Forge"


@functools.cache
def is_forge() -> bool:
    """True inside Stable Diffusion WebUI Forge (its model backend imports), False in the A1111 WebUI."""
    try:
        from backend.diffusion_engine.base import ForgeDiffusionEngine  # noqa: F401
    except ImportError:
        return False
    return True


def name() -> str:
    return NAME_FORGE if is_forge() else NAME_A1111


def prompt_chunker() -> Any:
    """The object whose `process_texts(texts)` splits prompts into 75-token chunks exactly as the conditioning does.

    A1111: the hijacked cond stage model (on SDXL its first CLIP). Forge: the model's text processing engine (its
    `get_prompt_lengths` takes an extra `cond_stage_model` argument, so the hijack's counter is not used at all).
    """
    if is_forge():
        from modules import shared

        for attribute in ("text_processing_engine", "text_processing_engine_l", "text_processing_engine_g"):
            engine = getattr(shared.sd_model, attribute, None)
            if engine is not None and hasattr(engine, "process_texts"):
                return engine
    else:
        from modules import sd_hijack

        clip = getattr(sd_hijack.model_hijack, "clip", None)
        if clip is not None and hasattr(clip, "process_texts"):
            return clip
    raise RuntimeError(f"[DNP] found no prompt chunker in this {name()} (no model loaded?)")


def loaded_model() -> Any:
    """The checkpoint's model, loaded now if it is not yet.

    A1111's `shared.sd_model` loads the model on first access. Forge starts with a placeholder
    (`FakeInitialModel`, without `sd_model_hash` and the rest) and loads the checkpoint at the start of each
    generation, through `forge_model_reload`, which is called here for work that does not start with a generation
    (the Preview DNS button before any image was made).
    """
    if is_forge():
        from modules import sd_models

        model, _ = sd_models.forge_model_reload()
        return model
    from modules import shared

    return shared.sd_model


def input_accordion(saved_key: str, **kwargs: Any) -> Any:
    """The WebUI's accordion with a checkbox in its header (`InputAccordion`, as Hires fix; A1111 >= 1.6 and Forge).

    `saved_key` is its ui-config.json entry. A1111's ui_loadsave applies it. Forge's never does, to this accordion or
    to its own Hires fix: its `type(x) == InputAccordion` compares with a function there (Forge's InputAccordion is a
    factory of `InputAccordionImpl`), so on Forge the saved value is read here, as the accordion's initial value
    (which also opens it). Forge's Settings › Defaults does not save it either; that is not mended here.
    """
    from modules.ui_components import InputAccordion

    if is_forge():
        saved = _saved_ui_value(saved_key)
        if isinstance(saved, bool):
            kwargs["value"] = saved
    return InputAccordion(**kwargs)


def _saved_ui_value(key: str) -> Any:
    """`key` of the WebUI's ui-config.json (None when absent or unreadable: the WebUI reports a broken file itself)."""
    from modules import shared

    try:
        with open(shared.cmd_opts.ui_config_file, encoding="utf8") as file:
            return json.load(file).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def publish_options(options: dict[str, Any]) -> None:
    """Make options this extension registered part of the API's answer to GET /sdapi/v1/options.

    Both WebUIs build that route's response model (`modules.api.models.OptionsModel`) from the options known when
    `modules.api.models` is first imported, and the route drops every other option from its answer. A1111 imports
    it when the API starts, after every script registered its options. Forge's built-in ControlNet imports it while
    the built-in extensions load (`extensions-builtin/sd_forge_controlnet/lib_controlnet/api.py` imports
    `modules.api.api`), before any user extension, so Forge's API never lists DNP's settings (POST sets them all the
    same). On Forge the model is extended here with the missing ones, as `models.py` builds its own fields; the API
    (`webui.py` create_api, after the scripts load) then answers with them.
    """
    models = sys.modules.get("modules.api.models")
    if not is_forge() or models is None:
        return  # not built yet: it will be built with these options
    base = models.OptionsModel
    # pydantic 2's model_fields (Forge pins 2.8.2); 1.x's __fields__ where this runs under A1111's pins (unit tests)
    known = getattr(base, "model_fields", None) or base.__fields__
    missing = {key: info for key, info in options.items() if key not in known}
    if not missing:
        return
    from modules import shared
    from pydantic import Field, create_model

    def annotation(default: Any) -> Any:
        return shared.opts.typemap.get(type(default), type(default)) | None if default else Any

    fields = {
        key: (annotation(info.default), Field(default=info.default, description=info.label))
        for key, info in missing.items()
    }
    models.OptionsModel = create_model("Options", __base__=base, **fields)

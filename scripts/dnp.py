"""sd-webui-dnp: diffusion-negative prompting for the AUTOMATIC1111 WebUI (the WebUI-facing Script only).

Everything else lives in lib_dnp (the core) and lib_dnp/webui (the adapter).
"""

from __future__ import annotations

from typing import Any

from modules import script_callbacks, scripts

from lib_dnp import SCRIPT_TITLE, widgets
from lib_dnp.webui import api, dns_pass, generation, preview, routes, runtime, settings, ui, xyz

# Registered once at import; both act only on DNP's own work (the nested DNS pass, DNP infotext).
script_callbacks.on_cfg_denoiser(dns_pass.on_cfg_denoiser, name="dnp_dns_guidance")
script_callbacks.on_infotext_pasted(generation.on_infotext_pasted, name="dnp_restore_negative")


def _on_app_started(_demo: Any, app: Any) -> None:
    # The WebUI adds its API routes before this callback, in API-only and UI mode alike; without its API
    # (no --api in UI mode) there is no Api object, and DNP mounts nothing.
    routes.install(api.install(app, xyz.xyz_problems))


script_callbacks.on_app_started(_on_app_started, name="dnp_api")
# Settings › DNP: added now, because --nowebui never calls on_ui_settings, and again there (the UI's own place).
settings.register()
script_callbacks.on_ui_settings(settings.register, name="dnp_settings")
# The X/Y/Z plot (a built-in script) is loaded before extensions' scripts; the callback covers the other order.
if not xyz.register():
    script_callbacks.on_before_ui(xyz.register, name="dnp_xyz_axes")


class DnpScript(scripts.Script):
    def __init__(self) -> None:
        self.captured: dict[str, Any] = {}
        self.accordion: ui.Accordion | None = None

    def title(self) -> str:
        return SCRIPT_TITLE

    def show(self, is_img2img: bool) -> Any:
        return scripts.AlwaysVisible

    def ui(self, is_img2img: bool) -> list[Any]:
        self.accordion = ui.Accordion("img2img" if is_img2img else "txt2img")
        self.infotext_fields = self.accordion.infotext_fields()
        self.paste_field_names = []
        return self.accordion.script_inputs()

    def after_component(self, component: Any, **kwargs: Any) -> None:
        elem_id = kwargs.get("elem_id")
        if not elem_id:
            return
        self.captured[elem_id] = component
        tab = "img2img" if self.is_img2img else "txt2img"
        if self.accordion is None:
            return
        if elem_id == f"{tab}_gallery":
            self.accordion.wire(self.captured, preview.preview, _unload)
        elif elem_id == f"generation_info_{tab}":
            self.accordion.follow(component)

    def process(self, p: Any, *args: Any) -> None:
        generation.process(p, widgets.params_data(args))

    def before_process_batch(self, p: Any, *args: Any, **kwargs: Any) -> None:
        # The DNS pass runs here, once per job, so that it sees the prompts every script's process() wrote; in
        # img2img too, after the WebUI's img2img set-up (p.init), which the pass leaves as it was (its global RNG,
        # see dns_pass._global_rng_kept).
        generation.before_process_batch(p)

    def postprocess(self, p: Any, processed: Any, *args: Any) -> None:
        generation.postprocess(p, processed, "img2img" if self.is_img2img else "txt2img")


def _unload() -> str:
    return "Captioner unloaded." if runtime.unload() else "No captioner was loaded."

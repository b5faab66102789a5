"""The "DNP" section of the WebUI's Settings, and the small functions the rest of the adapter reads it through.

Each option is a `shared.OptionInfo` in section ("dnp", "DNP"); its default comes from one place (the params model
for the captioner and the preset, `DEFAULT_CACHE_SIZE` here). The command-line flags of preload.py win where given
(they default to None, i.e. "not given"). Options that the WebUI can apply while running say so in `onchange`:
the cache is rebuilt at its new size, the captioner is freed when it may no longer stay in memory, the next
captioning loads on the new device.

`register` runs when the script module is imported, because `--nowebui` never calls the `on_ui_settings`
callbacks, and again from on_ui_settings (idempotent), the documented place in UI mode.
"""

from __future__ import annotations

import functools
from typing import Any

from lib_dnp.cache import DEFAULT_CACHE_SIZE
from lib_dnp.params import DnpParams, choices
from lib_dnp.webui import platform

SECTION = ("dnp", "DNP")

DEFAULT_CAPTIONER = "dnp_default_captioner"
DEFAULT_PRESET = "dnp_default_preset"
CACHE_SIZE = "dnp_cache_size"
KEEP_CAPTIONER = "dnp_keep_captioner"
CAPTIONER_DEVICE = "dnp_captioner_device"
API_DOWNLOADS = "dnp_api_may_download"


def _params_default(name: str) -> Any:
    return DnpParams.__fields__[name].default


def _defaults() -> dict[str, Any]:
    return {
        DEFAULT_CAPTIONER: _params_default("captioner"),
        DEFAULT_PRESET: _params_default("preset"),
        CACHE_SIZE: DEFAULT_CACHE_SIZE,
        KEEP_CAPTIONER: True,
        CAPTIONER_DEVICE: "",
        API_DOWNLOADS: False,
    }


def _shared() -> Any:
    try:
        from modules import shared
    except ImportError:  # outside a WebUI (the adapter's unit tests): every option at its default, no flags
        return None
    return shared


def _option(name: str) -> Any:
    value = getattr(getattr(_shared(), "opts", None), name, None)
    return _defaults()[name] if value is None else value


def _flag(name: str) -> Any:
    return getattr(getattr(_shared(), "cmd_opts", None), name, None)


# --- what the adapter reads ----------------------------------------------------------------------------------


def default_captioner() -> str:
    """The captioner the accordion starts with (Settings › DNP)."""
    return str(_option(DEFAULT_CAPTIONER)).strip() or _params_default("captioner")


def default_preset() -> str:
    preset = _option(DEFAULT_PRESET)
    return preset if preset in (choices("preset") or []) else _params_default("preset")


def cache_size() -> int:
    """DNS images kept for re-use: --dnp-cache-size where given, else Settings › DNP (0 disables the cache)."""
    flag = _flag("dnp_cache_size")
    value = flag if flag is not None else _option(CACHE_SIZE)
    return max(0, int(value or 0))


def keep_captioner() -> bool:
    return bool(_option(KEEP_CAPTIONER))


def captioner_device_name() -> str | None:
    """--dnp-captioner-device where given, else Settings › DNP; None: the WebUI's interrogate device."""
    chosen = _flag("dnp_captioner_device") or str(_option(CAPTIONER_DEVICE)).strip()
    return chosen or None


def request_defaults() -> dict[str, str]:
    """What a request that leaves out the captioner or the preset gets, and what a new accordion shows: the
    server owner's choices in Settings › DNP (the params model's defaults until the owner changes them)."""
    return {"captioner": default_captioner(), "preset": default_preset()}


def api_may_download() -> bool:
    """Whether API requests may make the server download a captioner from the hub (the UI always may)."""
    return bool(_option(API_DOWNLOADS))


# --- registration --------------------------------------------------------------------------------------------


def _options() -> dict[str, Any]:
    import gradio as gr
    from modules import shared

    from lib_dnp.captioners.registry import REGISTRY
    from lib_dnp.webui import runtime

    defaults = _defaults()

    def info(name: str, label: str, **kwargs: Any) -> Any:
        return shared.OptionInfo(defaults[name], label, section=SECTION, **kwargs)

    return {
        DEFAULT_CAPTIONER: info(
            DEFAULT_CAPTIONER,
            "Default captioner (registry key, Hugging Face model id or folder)",
            # allow_custom_value goes to the constructor, not component_args: A1111 passes component_args to
            # gr.update on every page load, and gradio 3.41's Dropdown.update rejects that keyword.
            component=functools.partial(gr.Dropdown, allow_custom_value=True),
            component_args={"choices": list(REGISTRY)},
        ),
        DEFAULT_PRESET: info(
            DEFAULT_PRESET,
            "Default preset",
            component=gr.Radio,
            component_args={"choices": choices("preset") or []},
        ),
        CACHE_SIZE: info(
            CACHE_SIZE,
            "DNS cache size (DNS images and their captions kept for re-use; 0 disables it)",
            component=gr.Slider,
            component_args={"minimum": 0, "maximum": 512, "step": 1},
            onchange=runtime.reset_cache,
        ).info("--dnp-cache-size wins where given"),
        KEEP_CAPTIONER: info(
            KEEP_CAPTIONER,
            "Keep the captioner in memory between generations",
            onchange=runtime.release_if_not_kept,
        ),
        CAPTIONER_DEVICE: info(
            CAPTIONER_DEVICE, "Captioner device, e.g. cpu or cuda:1 (empty: the WebUI's interrogate device)"
        ).info("--dnp-captioner-device wins where given; applies from the next caption"),
        API_DOWNLOADS: info(
            API_DOWNLOADS,
            "API requests may download captioners from the Hugging Face hub",
        ).info(
            "off: an API request may only use registry captioners, models already cached and captioner folders"
        ),
    }


def register() -> None:
    from modules import shared

    options = _options()
    for name, option in options.items():
        shared.opts.add_option(name, option)
    platform.publish_options(options)

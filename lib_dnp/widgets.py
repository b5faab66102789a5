"""Widget descriptions of the params model, and the conversions between widget values and params.

Front ends with a UI (the WebUI accordion) build their controls from `widget_specs()` instead of restating labels,
bounds, defaults and help texts. This module knows nothing of gradio, so the mapping is tested without it.

The widgets are the script's inputs, one per *slot*, in `input_slots()` order: most fields have one widget; an
optional number ("empty = the preset's") has a checkbox `<field>_set` and a slider that only spans the values the
model accepts; the manual captions are `CAPTION_SLOTS` boxes, one per image. `params_data` turns the positional
values back into the one dict of named fields that the API sends too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lib_dnp.captioners.registry import REGISTRY
from lib_dnp.params import DnpParams, choices, field_extra, field_kind

# What a user sets on every generation; everything else sits in the accordion's "Advanced" group.
EVERYDAY = ("enabled", "mode", "captioner", "preset", "composition")
# Per-image caption boxes (the WebUI's batch size goes up to 8; a larger job takes one caption for all images).
CAPTION_SLOTS = 8
SET_SUFFIX = "_set"


def _optional_number(name: str) -> bool:
    return field_extra(name, "unset") is not None


def caption_slot(number: int) -> str:
    """The slot of the caption box of image `number` (1-based)."""
    return f"caption_{number}"


@dataclass(frozen=True)
class WidgetSpec:
    slot: str  # the input slot (a params field, `<field>_set` or `caption_<n>`)
    name: str  # the params field it feeds
    kind: str  # checkbox | radio | dropdown | slider | textbox
    label: str
    info: str  # help text, shown as the control's tooltip
    value: Any
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    advanced: bool = False


def _slider_range(name: str) -> tuple[float, float, float]:
    """(minimum, maximum, step): exactly the values the model accepts, on the field's step grid."""
    info = DnpParams.__fields__[name].field_info
    step = float(field_extra(name, "step"))
    low = float(info.ge) if info.ge is not None else float(info.gt) + step  # an open bound: one step above it
    return low, float(info.le), step


def _number_specs(name: str, label: str, help_text: str, value: Any, advanced: bool) -> list[WidgetSpec]:
    low, high, step = _slider_range(name)
    if not _optional_number(name):
        return [WidgetSpec(name, name, "slider", label, help_text, value, low, high, step, advanced=advanced)]
    unset = field_extra(name, "unset")
    shown = low if value is None else value
    toggle = WidgetSpec(
        name + SET_SUFFIX,
        name,
        "checkbox",
        f"Own {label}",
        f"Off: the {unset}'s value. On: the value of the slider. {help_text}",
        value is not None,
        advanced=advanced,
    )
    return [
        toggle,
        WidgetSpec(name, name, "slider", label, help_text, shown, low, high, step, advanced=advanced),
    ]


def widget_specs(defaults: DnpParams | None = None) -> list[WidgetSpec]:
    """One spec per input slot, in `input_slots()` order, showing `defaults` (the model's own when None)."""
    defaults = defaults if defaults is not None else DnpParams()
    specs: list[WidgetSpec] = []
    for name, field in DnpParams.__fields__.items():
        info = field.field_info
        label, help_text = info.title or name, info.description or ""
        value, advanced = getattr(defaults, name), name not in EVERYDAY
        options = choices(name)
        if field.type_ is bool:
            specs.append(WidgetSpec(name, name, "checkbox", label, help_text, value, advanced=advanced))
        elif options:
            specs.append(
                WidgetSpec(
                    name, name, "radio", label, help_text, value, choices=tuple(options), advanced=advanced
                )
            )
        elif name == "captioner":
            specs.append(
                WidgetSpec(
                    name,
                    name,
                    "dropdown",
                    label,
                    help_text,
                    value,
                    choices=tuple(REGISTRY),
                    advanced=advanced,
                )
            )
        elif name == "captions":
            for number in range(1, CAPTION_SLOTS + 1):
                which = "image 1, or every image" if number == 1 else f"image {number}"
                text = value[number - 1] if number <= len(value) else ""
                specs.append(
                    WidgetSpec(caption_slot(number), name, "textbox", f"Caption, {which}", help_text, text)
                )
        else:
            specs.extend(_number_specs(name, label, help_text, value, advanced))
    return specs


def input_slots() -> list[str]:
    return [spec.slot for spec in widget_specs()]


def params_data(args: Sequence[Any]) -> Any:
    """The script's arguments → the dict of named fields (unvalidated), or None for no arguments.

    The API sends that dict itself as the first argument (the WebUI fills the other positions with the widgets'
    defaults, which are then ignored); the UI sends one value per slot, in `input_slots()` order.
    """
    if not args:
        return None
    if isinstance(args[0], dict):
        return args[0]
    if len(args) != len(input_slots()):
        return list(args)  # neither shape: the params model says what it expects
    return params_from_inputs(dict(zip(input_slots(), args)))


def params_from_inputs(values: dict[str, Any]) -> dict[str, Any]:
    """Widget values by slot → the params dict the script receives (validation stays with the model)."""
    data: dict[str, Any] = {}
    for name in DnpParams.__fields__:
        if name == "captions":
            boxes = [str(values.get(caption_slot(n)) or "").strip() for n in range(1, CAPTION_SLOTS + 1)]
            used = max((n for n, text in enumerate(boxes, start=1) if text), default=0)
            data[name] = boxes[:used]  # an empty box before a filled one: that image gets no caption
        elif _optional_number(name) and not values.get(name + SET_SUFFIX):
            data[name] = None
        else:
            data[name] = from_widget(name, values.get(name))
    return data


def widget_values(params: DnpParams) -> dict[str, Any]:
    """DnpParams → the value of every slot (for paste-back), the inverse of `params_from_inputs`."""
    values: dict[str, Any] = {}
    for spec in widget_specs():
        value = getattr(params, spec.name)
        if spec.name == "captions":
            number = int(spec.slot.rsplit("_", 1)[1])
            values[spec.slot] = value[number - 1] if number <= len(value) else ""
        elif spec.slot.endswith(SET_SUFFIX):
            values[spec.slot] = value is not None
        elif _optional_number(spec.name):
            values[spec.slot] = spec.value if value is None else value
        else:
            values[spec.slot] = value
    return values


def to_widget(name: str, value: Any) -> Any:
    """A params value → how a one-value control (an X/Y/Z cell label) shows it; None stays None."""
    if name == "captions":
        return "\n".join(value)
    return value


def from_widget(name: str, value: Any) -> Any:
    """A widget's (or X/Y/Z cell's) value → the params value (validation stays with the model)."""
    if _optional_number(name) and value is None:
        return None
    if field_kind(name) is int and isinstance(value, float) and value.is_integer():
        return int(value)  # gradio sliders report floats
    return value


def shown_slots(mode: str, rerank: str, toggles: dict[str, bool]) -> dict[str, bool]:
    """Which optional controls apply to these settings: the captions in manual mode, the candidates with
    re-ranking on, an optional number's slider when its own value is chosen."""
    shown = {"captions": mode == "manual", "candidates": rerank != "off"}
    shown.update({name: bool(toggles.get(name + SET_SUFFIX)) for name in optional_numbers()})
    return shown


def optional_numbers() -> list[str]:
    return [name for name in DnpParams.__fields__ if _optional_number(name)]

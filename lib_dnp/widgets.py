"""Widget descriptions of the params model, and the conversions between widget values and params.

Front ends with a UI (the WebUI accordion) build their controls from `widget_specs()` instead of restating labels,
bounds and defaults. This module knows nothing of gradio, so the mapping is tested without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lib_dnp.captioners.registry import REGISTRY
from lib_dnp.params import DnpParams, choices, field_extra, field_kind

# UI-only conventions, in one place: a 0 on the slider of an optional number (DNS scale, steps, size) means
# "unset" (None: the CFG scale, the preset's value), and the manual captions box holds one caption per line.
UNSET = 0.0


def _optional_number(name: str) -> bool:
    return field_extra(name, "unset") is not None


@dataclass(frozen=True)
class WidgetSpec:
    name: str  # the params field
    kind: str  # checkbox | radio | dropdown | slider | textbox
    label: str
    info: str
    value: Any
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()


def widget_specs() -> list[WidgetSpec]:
    defaults = DnpParams()
    specs = []
    for name, field in DnpParams.__fields__.items():
        info = field.field_info
        label, help_text = info.title or name, info.description or ""
        value = to_widget(name, getattr(defaults, name))
        options = choices(name)
        if field.type_ is bool:
            specs.append(WidgetSpec(name, "checkbox", label, help_text, value))
        elif options:
            specs.append(WidgetSpec(name, "radio", label, help_text, value, choices=tuple(options)))
        elif name == "captioner":
            specs.append(WidgetSpec(name, "dropdown", label, help_text, value, choices=tuple(REGISTRY)))
        elif name == "captions":
            specs.append(WidgetSpec(name, "textbox", label, help_text + " One per line.", value))
        else:
            low = info.ge if info.ge is not None else info.gt
            if _optional_number(name):
                low, label = UNSET, f"{label} (0 = {field_extra(name, 'unset')})"
            elif info.gt is not None:
                low = field_extra(name, "step")  # an open lower bound: start one step above it
            specs.append(
                WidgetSpec(name, "slider", label, help_text, value, low, info.le, field_extra(name, "step"))
            )
    return specs


def to_widget(name: str, value: Any) -> Any:
    """A params value → what its widget shows."""
    if _optional_number(name) and value is None:
        return UNSET
    if name == "captions":
        return "\n".join(value)
    return value


def from_widget(name: str, value: Any) -> Any:
    """A widget's value → the params value (validation stays with the model)."""
    if _optional_number(name) and (value is None or float(value) == UNSET):
        return None
    if name == "captions":
        return [line.strip() for line in str(value or "").splitlines() if line.strip()]
    if field_kind(name) is int and isinstance(value, float) and value.is_integer():
        return int(value)  # gradio sliders report floats
    return value


def params_from_widgets(values: dict[str, Any]) -> dict[str, Any]:
    """All widget values (by field name) → the params dict the script receives, unvalidated."""
    return {name: from_widget(name, value) for name, value in values.items()}

"""X/Y/Z plot axes for DNP options, labelled "[DNP] <title>", one per params field marked `xyz`.

A cell's value goes on the processing object as an override (`generation.OVERRIDES`), which `params_for` merges
into the script's args and validates; `confirm` checks every value of an axis before the grid starts, and the
API check (`api.request_problems`) does the same before the request is accepted. Number axes take the X/Y/Z
plot's range syntax; 0 on an optional number means "unset", as on its slider (e.g. DNS scale 0 = the CFG scale).

The axes are added to the X/Y/Z plot's module list when our script is imported (built-in scripts load first), so
they exist before any script UI is built, which `--nowebui` does before `on_before_ui` runs; `register` is also
called from on_before_ui in case the X/Y/Z plot loaded later.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Sequence
from typing import Any

from lib_dnp.params import (
    DnpParams,
    DnpParamsError,
    choices,
    coerce_text,
    field_extra,
    field_kind,
    parse_params,
)
from lib_dnp.widgets import from_widget, to_widget

log = logging.getLogger("lib_dnp")

LABEL_PREFIX = "[DNP] "
XYZ_TITLE = "X/Y/Z plot"
_AXIS_ARGS = ((0, 1, 2), (3, 4, 5), (6, 7, 8))  # (type index, csv values, dropdown values) of X, Y and Z
_CSV_MODE_ARG = 17  # run(p, x_type, x_values, x_values_dropdown, ..., margin_size, csv_mode)


def axis_fields() -> list[str]:
    return [name for name in DnpParams.__fields__ if field_extra(name, "xyz", False)]


def label(name: str) -> str:
    return LABEL_PREFIX + (DnpParams.__fields__[name].field_info.title or name)


def cell_value(name: str, value: Any) -> Any:
    """An X/Y/Z cell value (already converted to the axis type) → the params value; 0 on an optional number is
    "unset", so a range such as 0, 5, 9 compares the preset (or the CFG scale) with own values."""
    if isinstance(value, str):
        return coerce_text(name, value)
    if field_extra(name, "unset") is not None and value == 0:
        return None
    return from_widget(name, value)


def own_infotext(p: Any, keys: Sequence[str]) -> None:
    """Give this processing object its own `extra_generation_params` without DNP's entries.

    The X/Y/Z plot copies p shallowly for every cell, so all cells share one dict: the entries a DNP cell writes
    would otherwise stay in the next cells' infotext (a "DNP off" cell reporting a DNP caption and pasting back
    as DNP on). Called at the start of every generation, before DNP writes anything."""
    p.extra_generation_params = {
        key: value for key, value in p.extra_generation_params.items() if key not in keys
    }


def check_values(name: str, values: Sequence[Any]) -> list[str]:
    """Messages for the values of an axis that the params model refuses."""
    problems = []
    for value in values:
        try:
            parse_params({name: cell_value(name, value)})
        except DnpParamsError as error:
            problems.append(f"{label(name)} value {value!r}: {error}")
    return problems


def _axis_type(name: str) -> type:
    kind = field_kind(name)
    return kind if kind in (int, float) else str


def _choices(name: str) -> Any:
    options = choices(name)
    if options:
        return lambda: list(options)
    if field_kind(name) is bool:
        return lambda: ["True", "False"]
    if name == "captioner":
        from lib_dnp.captioners.registry import REGISTRY

        return lambda: list(REGISTRY)
    return None


def _axis(xyz: Any, name: str) -> Any:
    def apply(p: Any, value: Any, values: Any) -> None:
        from lib_dnp.webui.generation import OVERRIDES

        # a new dict per cell: X/Y/Z copies p shallowly, so mutating a shared one would leak into other cells
        setattr(p, OVERRIDES, {**(getattr(p, OVERRIDES, None) or {}), name: cell_value(name, value)})

    def confirm(p: Any, values: Sequence[Any]) -> None:
        problems = check_values(name, values)
        if problems:
            raise RuntimeError("; ".join(problems))

    def format_value(p: Any, opt: Any, value: Any) -> str:
        shown = cell_value(name, value)
        unset = field_extra(name, "unset")
        text = unset if shown is None and unset else to_widget(name, shown)
        return f"{opt.label}: {round(text, 8) if isinstance(text, float) else text}"

    return xyz.AxisOption(
        label(name),
        _axis_type(name),
        apply,
        format_value=format_value,
        confirm=confirm,
        choices=_choices(name),
    )


def xyz_module() -> Any | None:
    from modules import scripts

    for data in scripts.scripts_data:
        if data.script_class.__module__ == "xyz_grid.py":
            return data.module
    return None


def register() -> bool:
    """Add the DNP axes to the X/Y/Z plot (once); False when the X/Y/Z plot is not loaded."""
    xyz = xyz_module()
    if xyz is None:
        return False
    present = {option.label for option in xyz.axis_options}
    xyz.axis_options.extend(_axis(xyz, name) for name in axis_fields() if label(name) not in present)
    return True


def _current_axes(tab: str) -> list[Any]:
    from modules import scripts

    runner = scripts.scripts_img2img if tab == "img2img" else scripts.scripts_txt2img
    for script in getattr(runner, "selectable_scripts", []):
        if script.title() == XYZ_TITLE:
            return list(getattr(script, "current_axis_options", []))
    return []


def _axis_values(
    option: Any, script_args: Sequence[Any], csv_at: int, dropdown_at: int
) -> tuple[list[Any], int]:
    """The values of an axis as the X/Y/Z plot reads them (the dropdown list, or the comma-separated text), and
    their position in script_args."""
    csv_mode = len(script_args) > _CSV_MODE_ARG and bool(script_args[_CSV_MODE_ARG])
    if option.choices is not None and not csv_mode:
        dropdown = script_args[dropdown_at] if len(script_args) > dropdown_at else None
        return (list(dropdown) if isinstance(dropdown, list) else []), dropdown_at
    text = script_args[csv_at] if len(script_args) > csv_at else ""
    if not isinstance(text, str):
        return [text], csv_at
    rows = csv.reader(io.StringIO(text), skipinitialspace=True)  # as the X/Y/Z plot splits them
    return [item.strip() for row in rows for item in row if item.strip()], csv_at


def _typed(option: Any, text: Any) -> Any:
    """A value as the X/Y/Z plot converts it; None for a range expression, which the plot expands itself."""
    if not isinstance(text, str) or option.type is str:
        return text
    try:
        return option.type(text)
    except ValueError:
        return None  # "1-5 (+2)", "1-5 [3]": checked by confirm once expanded


def xyz_problems(
    script_args: Sequence[Any], tab: str, captioner_check: Callable[[str], str | None] | None = None
) -> list[tuple[list[Any], str]]:
    """Problems of the DNP axes of an X/Y/Z plot request (`script_args` as the API receives them); with
    `captioner_check`, also the values of a captioner axis that it refuses (an API request's rule)."""
    axes = _current_axes(tab)
    names = {label(name): name for name in axis_fields()}
    problems = []
    for type_at, csv_at, dropdown_at in _AXIS_ARGS:
        index = script_args[type_at] if len(script_args) > type_at else None
        if not isinstance(index, int) or not 0 <= index < len(axes) or axes[index].label not in names:
            continue
        option = axes[index]
        raw, position = _axis_values(option, script_args, csv_at, dropdown_at)
        values = [_typed(option, v) for v in raw]
        checked = [v for v in values if v is not None]
        for message in check_values(names[option.label], checked):
            problems.append((["body", "script_args", position], message))
        if captioner_check and names[option.label] == "captioner":
            refusals = (captioner_check(str(value)) for value in checked)
            problems += [
                (["body", "script_args", position], f"{label('captioner')} value: {r}") for r in refusals if r
            ]
    return problems

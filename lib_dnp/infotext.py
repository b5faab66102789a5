"""DNP settings ⇄ image infotext ("parameters" text).

One key holds the whole group, `DNP: mode=auto; dns_scale=5.0` — the key's presence means DNP was on, fields at
their defaults are left out, and only fields that change the image are written (`infotext` extra of the params
model). Each image's caption goes under its own key, `DNP caption`, and a failure under `DNP error`.
The WebUI quotes a value that holds `,` `:` or a newline, and unquotes it when parsing, so values here only need
to survive our own `;`/`=` separators: such values are JSON-quoted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lib_dnp import SCRIPT_TITLE
from lib_dnp.params import DnpParams, DnpParamsError, coerce_text, field_extra, parse_params

SETTINGS_KEY = SCRIPT_TITLE
CAPTION_KEY = "DNP caption"
ERROR_KEY = "DNP error"
# BREAKs appended to an image's negative (main / hires pass) to match the chunk count of its batch
PADDING_KEY = "DNP padding"
HIRES_PADDING_KEY = "DNP hires padding"

_ITEM = re.compile(r'\s*(\w+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*?)\s*(?:;|$)')
_NEEDS_QUOTES = re.compile(r'[;="\\]|^\s|\s$')


def _infotext_fields() -> list[str]:
    return [
        name for name in DnpParams.__fields__ if name != "enabled" and field_extra(name, "infotext", True)
    ]


def _encode(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return json.dumps(text) if _NEEDS_QUOTES.search(text) or text == "" else text


def settings_text(params: DnpParams) -> str:
    """The value of the `DNP` key: the mode, then every image-affecting field that differs from its default."""
    defaults = DnpParams()
    items = [f"mode={params.mode}"]
    for name in _infotext_fields():
        value = getattr(params, name)
        if name != "mode" and value != getattr(defaults, name):
            items.append(f"{name}={_encode(value)}")
    return "; ".join(items)


def parse_settings_text(text: str) -> dict[str, Any]:
    """The `DNP` value → a dict of fields (with `enabled: True`), values converted to their JSON types.

    Raises DnpParamsError for unknown names or unreadable values.
    """
    values: dict[str, Any] = {"enabled": True}
    position = 0
    text = text.strip()
    while position < len(text):
        match = _ITEM.match(text, position)
        if not match or match.end() == position:
            raise DnpParamsError([(SETTINGS_KEY, f"cannot read {text[position:]!r} as name=value")])
        name, raw = match.group(1), match.group(2)
        if raw.startswith('"'):
            values[name] = coerce_text(name, json.loads(raw))
        else:
            values[name] = coerce_text(name, raw)
        position = match.end()
    return values


def params_from_infotext(fields: dict[str, Any]) -> DnpParams | None:
    """Parsed infotext (key → value, as the WebUI's parser returns it) → DnpParams, or None without DNP.

    A manual-mode image carries its caption, which becomes the single manual caption, so that generating again
    reproduces the image.
    """
    text = fields.get(SETTINGS_KEY)
    if text is None:
        return None
    values = parse_settings_text(str(text))
    caption = fields.get(CAPTION_KEY)
    if values.get("mode") == "manual":
        values["captions"] = [str(caption)] if caption else []
    return parse_params(values)

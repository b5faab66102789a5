"""The one params model of sd-webui-dnp.

Every option's name, type, bounds, default and label lives here and nowhere else. The WebUI accordion, the
HTTP API (`alwayson_scripts`), the infotext and the X/Y/Z axes all read from and validate through `DnpParams`.

The model is written against the pydantic 1 API. The WebUI pins pydantic 1.x; pydantic 2 ships the same API as
`pydantic.v1`, so one model serves both without a shim of our own.
"""

from __future__ import annotations

import math
from typing import Any, Literal

try:  # pydantic 2
    from pydantic.v1 import BaseModel, Extra, Field, ValidationError, root_validator, validator
except ImportError:  # pydantic 1.x, as the WebUI pins it
    from pydantic import BaseModel, Extra, Field, ValidationError, root_validator, validator  # type: ignore

from lib_dnp import SCRIPT_TITLE
from lib_dnp.captioners.registry import DEFAULT_CAPTIONER, DEFAULT_MAX_TOKENS, REGISTRY
from lib_dnp.errors import BadSettings

MAX_CAPTION_CHARS = 2000
MAX_CAPTIONS = 1000

Mode = Literal["auto", "manual"]
Composition = Literal["append", "prepend", "replace"]
Preset = Literal["faithful", "fast"]
Rerank = Literal["off", "image", "prompt"]

# What `dns_steps` and `dns_size` are when left empty. "faithful" is the paper: the DNS pass is a full generation.
# "fast" samples a quarter of the steps at three quarters of the side (a ninth of the UNet work, still a
# recognisable image for the captioner). From the H100 cost floor in the field notes we expect ≈1.3× a plain SD1.5
# generation and ≈1.2× SDXL with the fast BLIP decoder; `python -m bench --device cuda` measures it.
PRESETS: dict[str, dict[str, float]] = {
    "faithful": {"dns_steps": 1.0, "dns_size": 1.0},
    "fast": {"dns_steps": 0.25, "dns_size": 0.75},
}


class DnpParamsError(BadSettings, ValueError):
    """Bad DNP options. `problems` lists (field, message) pairs; str() is one readable line per problem."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))


def _number(value: Any) -> Any:
    # The API must get "wrong type" for "7" or true, not a silent coercion; text sources (infotext, X/Y/Z)
    # convert their strings first, through `coerce_text`.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("expected a number")
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def _integer(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value


def _boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


def _string(value: Any) -> Any:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


class DnpParams(BaseModel):
    """Options of one DNP generation. Field extras: `infotext` (written to image parameters), `xyz` (an X/Y/Z
    axis), `step` (UI slider step)."""

    enabled: bool = Field(
        False, title="Enable DNP", description="Run diffusion-negative prompting.", xyz=True
    )
    mode: Mode = Field(
        "auto",
        title="Mode",
        description="auto: caption each DNS image and use it as negative. manual: use the captions you give.",
        xyz=True,
    )
    captioner: str = Field(
        DEFAULT_CAPTIONER,
        title="Captioner",
        description="A registry key, any Hugging Face image-to-text model id, or a local model folder.",
        min_length=1,
        max_length=512,
        xyz=True,
    )
    dns_scale: float | None = Field(
        None,
        title="DNS scale",
        description="Guidance scale s of the diffusion-negative pass (eq. 19); empty = the main CFG scale.",
        ge=1.0,
        le=30.0,
        step=0.5,
        unset="CFG scale",
        xyz=True,
    )
    preset: Preset = Field(
        "faithful",
        title="Preset",
        description="faithful: the DNS pass is a whole generation, as in the paper. fast: fewer DNS steps at a "
        "smaller size. DNS steps and DNS size override it when set.",
        xyz=True,
    )
    dns_steps: float | None = Field(
        None,
        title="DNS steps",
        description="Fraction of the main pass's steps used by the DNS pass; empty = the preset's.",
        gt=0.0,
        le=1.0,
        step=0.05,
        unset="preset",
        xyz=True,
    )
    dns_size: float | None = Field(
        None,
        title="DNS size",
        description="Width and height of the DNS image as a fraction of the image's (multiples of 64); "
        "empty = the preset's.",
        ge=0.25,
        le=1.0,
        step=0.05,
        unset="preset",
        xyz=True,
    )
    composition: Composition = Field(
        "append",
        title="Composition",
        description="How the caption joins your own negative prompt.",
        xyz=True,
    )
    captions: list[str] = Field(
        [],
        title="Captions",
        description="Manual mode: one negative for every image, or one per image in batch order.",
        max_items=MAX_CAPTIONS,
        infotext=False,
    )
    max_tokens: int = Field(
        DEFAULT_MAX_TOKENS,
        title="Caption max tokens",
        description="Longest caption, in captioner tokens.",
        ge=1,
        le=100,
        step=1,
    )
    num_beams: int = Field(
        1,
        title="Caption beams",
        description="Beam search width of the captioner (1 = greedy, fastest).",
        ge=1,
        le=8,
        step=1,
    )
    rerank: Rerank = Field(
        "off",
        title="Caption re-ranking",
        description="off: the captioner's one caption. image: CLIP keeps, of several candidate captions, the one "
        "closest to the DNS image. prompt: the one farthest from the prompt.",
        xyz=True,
    )
    candidates: int = Field(
        4,
        title="Caption candidates",
        description="How many captions the captioner proposes (beam search) when re-ranking is on.",
        ge=2,
        le=8,
        step=1,
    )
    cache: bool = Field(
        True,
        title="Cache DNS results",
        description="Reuse the DNS image and caption when nothing that determines them changed.",
        infotext=False,
    )
    return_dns_images: bool = Field(
        False,
        title="Return DNS images",
        description="Also return the DNS images, after the generated ones.",
        infotext=False,
    )

    class Config:
        extra = Extra.forbid
        validate_assignment = True
        # A JSON-schema-friendly title for /dnp/v1/schema.
        title = SCRIPT_TITLE

    _check_numbers = validator("dns_scale", "dns_steps", "dns_size", pre=True, allow_reuse=True)(
        lambda v: v if v is None else _number(v)
    )
    _check_integers = validator("max_tokens", "num_beams", "candidates", pre=True, allow_reuse=True)(_integer)
    _check_booleans = validator("enabled", "cache", "return_dns_images", pre=True, allow_reuse=True)(_boolean)
    _check_strings = validator(
        "mode", "preset", "captioner", "composition", "rerank", pre=True, allow_reuse=True
    )(_string)

    @validator("captions", pre=True)
    def _captions_are_strings(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise TypeError("expected a list of strings")
        for i, caption in enumerate(value):
            if not isinstance(caption, str):
                raise TypeError(f"item {i} is not a string")
            if len(caption) > MAX_CAPTION_CHARS:
                raise ValueError(
                    f"item {i} has {len(caption)} characters; at most {MAX_CAPTION_CHARS} are allowed"
                )
        return value

    @validator("captioner")
    def _captioner_is_one_line(cls, value: str) -> str:
        if value != value.strip() or any(ch in value for ch in "\r\n\t"):
            raise ValueError("must be one line without surrounding spaces")
        # A bare word can only be a registry key: a typo like "blip-larg" must not become a hub download attempt.
        if (
            value not in REGISTRY
            and "/" not in value
            and "\\" not in value
            and not value.startswith((".", "~"))
        ):
            raise ValueError(
                f"{value!r} is not a captioner key ({', '.join(REGISTRY)}); a Hugging Face model id is "
                "written owner/name and a local folder as a path (./name, /path/to/name)"
            )
        return value

    @root_validator(skip_on_failure=True)
    def _manual_needs_captions(cls, values: dict[str, Any]) -> dict[str, Any]:
        if values.get("enabled") and values.get("mode") == "manual" and not values.get("captions"):
            raise ValueError("captions: manual mode needs at least one caption (or use mode 'auto')")
        return values


FIELDS = tuple(DnpParams.__fields__)


def field_extra(name: str, key: str, default: Any = None) -> Any:
    return DnpParams.__fields__[name].field_info.extra.get(key, default)


def default_params() -> DnpParams:
    return DnpParams()


def choices(name: str) -> list[str] | None:
    """The allowed values of a Literal field, or None."""
    outer = DnpParams.__fields__[name].outer_type_
    args = getattr(outer, "__args__", None)
    if getattr(outer, "__origin__", None) is Literal and args:
        return list(args)
    return None


def field_kind(name: str) -> type:
    """bool, int, float, str or list: the JSON kind of a field (constrained types subclass these)."""
    field = DnpParams.__fields__[name]
    if getattr(field.outer_type_, "__origin__", None) is list:
        return list
    field_type = field.type_
    for kind in (bool, int, float, str):
        if isinstance(field_type, type) and issubclass(field_type, kind):
            return kind
    return str


def allowed(name: str) -> str:
    """What a field accepts, in words, for error messages."""
    field = DnpParams.__fields__[name]
    info = field.field_info
    options = choices(name)
    if options:
        return "one of " + ", ".join(repr(o) for o in options)
    kind = field_kind(name)
    if kind is bool:
        return "true or false"
    if kind is list:
        return f"a list of at most {MAX_CAPTIONS} strings of at most {MAX_CAPTION_CHARS} characters"
    if kind in (int, float):
        low = f"> {info.gt}" if info.gt is not None else f">= {info.ge}"
        text = f"{'an integer' if kind is int else 'a number'} {low} and <= {info.le}"
        unset = field_extra(name, "unset")
        return text + (f", or null for the {unset}'s value" if unset else "")
    return f"a one-line string of 1 to {info.max_length} characters"


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"] if part != "__root__"]
        name = loc[0] if loc else "params"
        message = item["msg"]
        if item["type"] == "value_error.extra":
            message = "unknown field; allowed fields are " + ", ".join(FIELDS)
        elif name in DnpParams.__fields__:
            message = f"{message} (allowed: {allowed(name)})"
        elif message.startswith(f"{name}: "):
            message = message[len(name) + 2 :]
        if name == "params" and ":" in message:
            name, message = (part.strip() for part in message.split(":", 1))
        problems.append((".".join([name, *loc[1:]]) if loc else name, message))
    return problems


def parse_params(data: Any) -> DnpParams:
    """dict (the API's JSON, the UI's state) → DnpParams. Missing fields take their defaults.

    Raises DnpParamsError naming each bad field and what it allows.
    """
    if isinstance(data, DnpParams):
        return data
    if data is None:
        return DnpParams()
    if not isinstance(data, dict):
        raise DnpParamsError([("args", f"expected an object of named DNP fields, got {type(data).__name__}")])
    try:
        return DnpParams.parse_obj(data)
    except ValidationError as error:
        raise DnpParamsError(_problems(error)) from None


def dns_steps(params: DnpParams, steps: int) -> int:
    """Steps of the DNS pass for a main pass of `steps`: the fraction set, or the preset's; at least 1."""
    fraction = params.dns_steps if params.dns_steps is not None else PRESETS[params.preset]["dns_steps"]
    return max(1, round(steps * fraction))


def dns_size(params: DnpParams, width: int, height: int) -> tuple[int, int]:
    """Width and height of the DNS pass: the image's, scaled by `dns_size` (or the preset's), in multiples of 64
    so every latent stays divisible through the UNet; the image's own size when no scaling is asked for."""
    fraction = params.dns_size if params.dns_size is not None else PRESETS[params.preset]["dns_size"]
    if fraction >= 1.0:
        return width, height
    return (max(64, round(width * fraction / 64) * 64), max(64, round(height * fraction / 64) * 64))


def dns_scale(params: DnpParams, cfg_scale: float) -> float:
    """The DNS guidance scale s of eq. 19: `dns_scale`, or the main pass's CFG scale when unset."""
    return float(cfg_scale if params.dns_scale is None else params.dns_scale)


def params_dict(params: DnpParams) -> dict[str, Any]:
    """DnpParams → plain JSON-ready dict, every field present."""
    return params.dict()


def updated(params: DnpParams, **changes: Any) -> DnpParams:
    """A validated copy with some fields changed (X/Y/Z values, UI overrides)."""
    return parse_params({**params.dict(), **changes})


def json_schema() -> dict[str, Any]:
    return DnpParams.schema()


def coerce_text(name: str, text: str) -> Any:
    """Convert a value written as text (infotext, an X/Y/Z cell) to the field's JSON type.

    Validation stays with the model: this only turns "7.5" into 7.5, "true" into True, "none" into None.
    """
    if name not in DnpParams.__fields__:
        raise DnpParamsError([(name, "unknown field; allowed fields are " + ", ".join(FIELDS))])
    field = DnpParams.__fields__[name]
    kind = field_kind(name)
    text = text.strip()
    if field.allow_none and text.lower() in ("", "none", "null", "default"):
        return None
    if kind is bool:
        lowered = text.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise DnpParamsError([(name, f"{text!r} is not a boolean (allowed: {allowed(name)})")])
    if kind in (int, float):
        try:
            number = float(text)
        except ValueError:
            raise DnpParamsError([(name, f"{text!r} is not a number (allowed: {allowed(name)})")]) from None
        if kind is int:
            if not number.is_integer():
                raise DnpParamsError([(name, f"{text!r} is not an integer (allowed: {allowed(name)})")])
            return int(number)
        return number
    return text

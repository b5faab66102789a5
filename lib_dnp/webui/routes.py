"""DNP's own HTTP routes, under /dnp/v1, behind the WebUI's own doors.

They exist only where the WebUI's API does (`--api`, or `--nowebui`), and they are added through the WebUI's Api
object, so `--api-auth` covers them exactly as it covers /sdapi/v1. Without the API (the WebUI's default, or
`--gradio-auth` alone) nothing is mounted: a route added to the app directly would be open to anyone, even where
the owner has shut the WebUI's own API.

GET  /dnp/v1/schema      the params model's JSON schema and the extension's version
GET  /dnp/v1/captioners  the captioner registry, and which captioners load offline now
GET  /dnp/v1/status      the loaded captioner, DNS cache counters, DNS images sampled since start
POST /dnp/v1/preview     DNS images and captions only, for a prompt and generation settings (manual DNP)
POST /dnp/v1/unload      free the captioner's memory
Errors are 4xx with a `detail` naming the field; no stack traces.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Body
from pydantic import BaseModel, Field

import lib_dnp
from lib_dnp.params import DnpParamsError, json_schema, parse_params
from lib_dnp.webui import preview, runtime, settings
from lib_dnp.webui.api import api_captioner_check, error_detail

PREFIX = "/dnp/v1"
log = logging.getLogger("lib_dnp")


class PreviewRequest(BaseModel):
    """The txt2img settings that determine the DNS images, plus the DNP options (named fields)."""

    prompt: str = Field(..., max_length=20000)
    negative_prompt: str = Field("", max_length=20000)
    seed: int = -1
    steps: int = Field(20, ge=1, le=150)
    cfg_scale: float = Field(7.0, ge=1.0, le=30.0)
    width: int = Field(512, ge=64, le=2048, multiple_of=8)
    height: int = Field(512, ge=64, le=2048, multiple_of=8)
    batch_size: int = Field(1, ge=1, le=8)
    sampler_name: str = "Euler a"
    scheduler: str = "Automatic"
    dnp: dict[str, Any] = Field(
        default_factory=dict, description="DNP options, as in alwayson_scripts.DNP.args[0]"
    )

    class Config:
        extra = "forbid"


def schema() -> dict[str, Any]:
    described = json_schema()
    for name, default in settings.request_defaults().items():  # what an omitted field gets on this server
        described["properties"][name]["default"] = default
    return {"version": lib_dnp.__version__, "script_title": lib_dnp.SCRIPT_TITLE, "schema": described}


def captioners() -> dict[str, Any]:
    from lib_dnp.captioners.registry import REGISTRY, available_offline

    entries = [
        {
            "key": entry.key,
            "model_id": entry.model_id,
            "label": entry.label,
            "family": entry.family,
            "approx_fp16_gb": entry.approx_fp16_gb,
            "available_offline": available_offline(entry.key),
        }
        for entry in REGISTRY.values()
    ]
    return {"default": settings.default_captioner(), "captioners": entries}


def status() -> dict[str, Any]:
    captioner = runtime.pool.current
    cache = runtime.cache()
    return {
        "captioner": None if captioner is None else repr(captioner),
        "cache": cache.stats(),
        "dns_images_sampled": runtime.stats["dns_images"],
    }


def unload() -> dict[str, Any]:
    return {"unloaded": runtime.unload()}


def _unprocessable(*location: str, message: str) -> Exception:
    from fastapi.exceptions import HTTPException

    return HTTPException(status_code=422, detail=error_detail([(["body", *location], message)]))


def _check_sampling(request: PreviewRequest) -> None:
    from modules import sd_samplers, sd_schedulers

    if request.sampler_name not in sd_samplers.all_samplers_map:
        raise _unprocessable("sampler_name", message=f"unknown sampler {request.sampler_name!r}")
    names = {s.label for s in sd_schedulers.schedulers} | {s.name for s in sd_schedulers.schedulers}
    if request.scheduler not in names:
        raise _unprocessable(
            "scheduler", message=f"unknown scheduler {request.scheduler!r}; one of {sorted(names)}"
        )


def _preview_request(body: Any) -> PreviewRequest:
    """The body as a PreviewRequest, or a located 422 that is always JSON.

    Validated here rather than by FastAPI: FastAPI's own 422 repeats each bad input, and with pydantic 2 (Forge) an
    input of Infinity or NaN, which the JSON parser accepts, then fails the answer itself (HTTP 500, "Out of range
    float values are not JSON compliant"). The detail keeps FastAPI's loc and message and drops the input.
    """
    from fastapi.exceptions import HTTPException
    from pydantic import ValidationError

    validate = getattr(PreviewRequest, "model_validate", None) or PreviewRequest.parse_obj  # pydantic 2 / 1
    try:
        return validate(body)
    except ValidationError as error:
        problems = [(["body", *problem["loc"]], problem["msg"]) for problem in error.errors()]
        raise HTTPException(status_code=422, detail=error_detail(problems)) from None


def run_preview(body: Any = Body(...)) -> dict[str, Any]:  # noqa: B008  (FastAPI's way to read the body)
    from fastapi.exceptions import HTTPException
    from modules.api.api import encode_pil_to_base64

    request = _preview_request(body)

    try:
        params = parse_params({**settings.request_defaults(), **request.dnp, **preview.PREVIEW_MODE})
    except DnpParamsError as error:
        detail = error_detail(
            [(["body", "dnp", *field.split(".")], message) for field, message in error.problems]
        )
        raise HTTPException(status_code=422, detail=detail) from None
    refusal = api_captioner_check(params.captioner) if "captioner" in request.dnp else None
    if refusal:
        raise _unprocessable("dnp", "captioner", message=refusal)
    _check_sampling(request)
    generation = preview.Settings(
        request.prompt,
        request.negative_prompt,
        request.seed,
        request.steps,
        request.cfg_scale,
        request.width,
        request.height,
    )
    results, seed = preview.dns_preview(
        params, generation, request.batch_size, request.sampler_name, request.scheduler
    )
    return {
        "seed": seed,
        "seeds": [seed + r.index for r in results],
        "captions": [r.caption for r in results],
        "negatives": [r.negative for r in results],
        "errors": [r.error for r in results],
        "images": [None if r.dns_image is None else encode_pil_to_base64(r.dns_image) for r in results],
    }


def install(api: Any | None) -> bool:
    """Add the routes through the WebUI's Api object (its `add_api_route` applies --api-auth); None, when the
    WebUI runs without its API, mounts nothing. True when the routes were added."""
    if api is None:
        log.info("[DNP] the WebUI's API is off (no --api): DNP's %s routes are not mounted either", PREFIX)
        return False
    api.add_api_route(f"{PREFIX}/schema", schema, methods=["GET"])
    api.add_api_route(f"{PREFIX}/captioners", captioners, methods=["GET"])
    api.add_api_route(f"{PREFIX}/status", status, methods=["GET"])
    api.add_api_route(f"{PREFIX}/preview", run_preview, methods=["POST"])
    api.add_api_route(f"{PREFIX}/unload", unload, methods=["POST"])
    return True

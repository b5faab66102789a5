"""The DNP part of a txt2img/img2img API request, checked before the WebUI runs the job.

The WebUI copies `alwayson_scripts.DNP.args` into the script's arguments unchecked and swallows exceptions raised
in script hooks, so a bad argument would silently give an image without DNP, and a bare dict instead of a list
ends in a 500 from the WebUI's own code. `install` puts `check_request` in front of both routes as a FastAPI
dependency: a bad request gets a 422 naming the field and what it allows, and nothing is generated.

The checks themselves (`request_problems`) are plain functions of the request's JSON, testable without a WebUI.
API requests may name only the captioners the server's owner allows (`api_captioner_check`); the UI may name any.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lib_dnp import SCRIPT_TITLE
from lib_dnp.params import DnpParamsError, parse_params

GENERATION_ROUTES = {"/sdapi/v1/txt2img": "txt2img", "/sdapi/v1/img2img": "img2img"}
ARGS_SHAPE = '"args": [{"enabled": true, ...named DNP fields...}]'

# (location in the request body, message); the location is a list of keys and indices, as FastAPI reports them.
Problem = tuple[list[Any], str]
# X/Y/Z plot arguments → their problems (see lib_dnp.webui.xyz); None when the X/Y/Z plot is not loaded.
XyzChecker = Callable[..., list[Problem]]
# captioner spec → why an API request may not use it, or None (lib_dnp.captioners.registry.api_refusal)
CaptionerCheck = Callable[[str], "str | None"]


def _dnp_entry(scripts: dict[str, Any]) -> str | None:
    # The WebUI matches script titles without regard to case.
    return next(
        (name for name in scripts if isinstance(name, str) and name.lower() == SCRIPT_TITLE.lower()), None
    )


def _job_size(body: dict[str, Any]) -> int | None:
    """Images in the job (batch_size × n_iter), or None when the WebUI's own validation will answer."""
    sizes = [body.get("batch_size", 1), body.get("n_iter", 1)]
    if not all(isinstance(size, int) and not isinstance(size, bool) and size > 0 for size in sizes):
        return None
    return sizes[0] * sizes[1]


def dnp_args_problems(body: dict[str, Any], captioner_check: CaptionerCheck | None = None) -> list[Problem]:
    """Problems of the `alwayson_scripts.DNP` entry of a request body (none when there is no such entry)."""
    scripts = body.get("alwayson_scripts")
    if not isinstance(scripts, dict):
        return []
    name = _dnp_entry(scripts)
    if name is None:
        return []
    where: list[Any] = ["body", "alwayson_scripts", name]
    entry = scripts[name]
    if not isinstance(entry, dict):
        return [(where, f"expected an object {{{ARGS_SHAPE}}}, got {type(entry).__name__}")]
    unknown = sorted(str(key) for key in entry if key != "args")
    if unknown:
        return [(where, f"unknown key(s) {', '.join(unknown)}; the only key read is 'args': {ARGS_SHAPE}")]
    args = entry.get("args", [])
    if not isinstance(args, list):
        return [
            ([*where, "args"], f"expected a list holding one object, {ARGS_SHAPE}; got {type(args).__name__}")
        ]
    if not args:
        return []  # the defaults: DNP off
    if len(args) > 1 or not isinstance(args[0], dict):
        return [
            (
                [*where, "args"],
                f"expected one object of named fields, {ARGS_SHAPE}; DNP takes no positional values "
                f"(got {len(args)} item(s), the first a {type(args[0]).__name__})",
            )
        ]
    try:
        params = parse_params(args[0])
    except DnpParamsError as error:
        return [([*where, "args", 0, *field.split(".")], message) for field, message in error.problems]
    # A captioner the request leaves out is the owner's own choice (Settings › DNP): only a named one is checked.
    refusal = captioner_check(params.captioner) if captioner_check and "captioner" in args[0] else None
    if refusal:
        return [([*where, "args", 0, "captioner"], refusal)]
    count = _job_size(body)
    if params.enabled and params.mode == "manual" and count and len(params.captions) not in (1, count):
        return [
            (
                [*where, "args", 0, "captions"],
                f"expected 1 caption or {count} (batch_size × n_iter, one per image), got {len(params.captions)}",
            )
        ]
    return []


def request_problems(
    body: Any,
    tab: str,
    xyz_problems: XyzChecker | None = None,
    captioner_check: CaptionerCheck | None = None,
) -> list[Problem]:
    """Everything wrong with the DNP part of a generation request: its args, and DNP axes of an X/Y/Z plot;
    with `captioner_check`, also captioners that an API request may not use."""
    if not isinstance(body, dict):
        return []  # not JSON of an object: FastAPI's own validation answers it
    problems = dnp_args_problems(body, captioner_check)
    script_name, script_args = body.get("script_name"), body.get("script_args")
    is_xyz = isinstance(script_name, str) and script_name.lower() == "x/y/z plot"
    if xyz_problems and is_xyz and isinstance(script_args, list):
        problems += xyz_problems(script_args, tab, captioner_check)
    return problems


def error_detail(problems: list[Problem]) -> list[dict[str, Any]]:
    """422 detail in FastAPI's own format, plus `field` (the DNP field or request key) for quick reading."""
    return [
        {"loc": loc, "field": str(loc[-1]), "msg": f"[DNP] {message}", "type": "value_error.dnp"}
        for loc, message in problems
    ]


def install(app: Any, xyz_problems: XyzChecker | None = None) -> Any | None:
    """Put the request check in front of the WebUI's txt2img and img2img routes, after their own dependencies
    (--api-auth answers first); returns the WebUI's Api object (for adding DNP's own routes with its
    authentication), or None when the WebUI runs without its API."""
    from fastapi import Depends
    from fastapi.routing import APIRoute

    api = None
    for position, route in enumerate(app.router.routes):
        tab = GENERATION_ROUTES.get(getattr(route, "path", None))
        if tab is None or not isinstance(route, APIRoute):
            continue
        # The WebUI keeps no reference to its Api object; its txt2img endpoint is a bound method of it.
        api = getattr(route.endpoint, "__self__", api)
        if getattr(route, "_dnp_checked", False):
            continue

        checked = APIRoute(
            route.path,
            route.endpoint,
            response_model=route.response_model,
            methods=list(route.methods),
            name=route.name,
            dependencies=[*route.dependencies, Depends(_checker(tab, xyz_problems))],
        )
        checked._dnp_checked = True
        app.router.routes[position] = checked
    return api


def api_captioner_check(spec: str) -> str | None:
    """The captioner rule for API requests, with the owner's choice in Settings › DNP read at request time."""
    from lib_dnp.captioners.registry import api_refusal
    from lib_dnp.webui import settings

    return api_refusal(spec, settings.api_may_download())


def _checker(tab: str, xyz_problems: XyzChecker | None) -> Callable[..., Any]:
    from fastapi import Request
    from fastapi.exceptions import HTTPException

    async def check_request(request: Request) -> None:
        # FastAPI has read and cached the body already, for the endpoint's own model.
        try:
            body = await request.json()
        except ValueError:
            return  # not JSON: the endpoint's own validation answers it
        problems = request_problems(body, tab, xyz_problems, api_captioner_check)
        if problems:
            raise HTTPException(status_code=422, detail=error_detail(problems))

    # FastAPI reads the annotation to inject the request; with postponed annotations it would be the string
    # "Request", which it resolves in this module's globals, where fastapi is not imported (kept lazy on purpose).
    check_request.__annotations__["request"] = Request
    return check_request

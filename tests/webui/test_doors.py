"""DNP's doors follow the WebUI's own: every /dnp/v1 route and the DNP check in front of txt2img/img2img answer
a client exactly as the same WebUI answers it for its own /sdapi/v1 routes, in every mode the owner can choose.

Modes: the WebUI's default (UI, no --api), --gradio-auth without --api, --api --api-auth, and --nowebui --api-auth.
Each mode's server is started for this module only and stopped before the next one starts. Every attempt is
recorded; the table of doors tried per mode and what each answered is written to the harness's logs folder
(doors-table.md) and printed at the end of the module.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from .harness import BASE

API_USER = ("bob", "secret")
WRONG_USER = ("bob", "wrong")


@dataclass(frozen=True)
class Mode:
    label: str
    ui: bool
    api: bool  # the harness's --api flag (--nowebui has the API regardless)
    args: tuple[str, ...] = ()

    @property
    def has_api_auth(self) -> bool:
        return "--api-auth" in self.args


MODES = {
    "default": Mode("default (UI, no --api)", ui=True, api=False),
    "gradio-auth": Mode(
        "--gradio-auth, no --api", ui=True, api=False, args=("--gradio-auth", "alice:secret")
    ),
    "api-auth": Mode("--api --api-auth", ui=True, api=True, args=("--api-auth", "bob:secret")),
    "nowebui-api-auth": Mode("--nowebui --api-auth", ui=False, api=True, args=("--api-auth", "bob:secret")),
}


def bad_dnp(tab_body: dict) -> dict:
    return {
        **tab_body,
        "steps": 2,
        "alwayson_scripts": {"DNP": {"args": [{"enabled": True, "dns_scale": -1}]}},
    }


def doors(captioner: str) -> list[tuple[str, str, dict | None]]:
    """(method, path, JSON body) of every door DNP adds; each body is valid but for the deliberately bad DNP arg."""
    preview = {
        **{k: BASE[k] for k in ("prompt", "negative_prompt", "seed", "steps", "width", "height")},
        "dnp": {"captioner": captioner, "cache": False},
    }
    return [
        ("GET", "/dnp/v1/schema", None),
        ("GET", "/dnp/v1/captioners", None),
        ("GET", "/dnp/v1/status", None),
        ("POST", "/dnp/v1/preview", preview),
        ("POST", "/dnp/v1/unload", None),
        ("POST", "/sdapi/v1/txt2img", bad_dnp(BASE)),
        ("POST", "/sdapi/v1/img2img", bad_dnp({**BASE, "init_images": []})),
    ]


# The WebUI's own door of the same kind: what it answers is what DNP's must answer.
OWN_DOOR = {"GET": ("/sdapi/v1/options", None), "POST": ("/sdapi/v1/txt2img", {**BASE, "steps": 2})}

TABLE: list[tuple[str, str, str, str, str]] = []  # mode, door, credentials, DNP's answer, the WebUI's own


@pytest.fixture(scope="module")
def table(webui_assets):
    yield TABLE
    header = "| mode | door | credentials | answer | expected: the WebUI's own door (422: the bad DNP arg) |"
    lines = [header, "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in TABLE]
    text = "\n".join(lines) + "\n"
    (webui_assets.workdir / "logs" / "doors-table.md").write_text(text)
    print("\n" + text)


@pytest.fixture(scope="module", params=list(MODES))
def door_server(request, webui_servers):
    mode = MODES[request.param]
    name = f"doors-{request.param}"
    server = webui_servers.get(name, ui=mode.ui, api=mode.api, args=mode.args)
    yield mode.label, mode, server
    webui_servers.stop(name)


def status_of(server, method: str, path: str, body: dict | None, auth) -> int:
    response = server.get(path, auth=auth) if method == "GET" else server.post(path, json=body, auth=auth)
    return response.status_code


CREDENTIALS = {"none": None, "wrong password": WRONG_USER}


@pytest.mark.parametrize("credentials", list(CREDENTIALS))
def test_a_stranger_meets_the_webuis_own_answer_at_every_door(door_server, captioner, table, credentials):
    mode_name, mode, server = door_server
    auth = CREDENTIALS[credentials]
    own = {method: status_of(server, method, *OWN_DOOR[method], auth) for method in OWN_DOOR}
    # none of these modes lets a stranger in: the WebUI's API is off (404) or behind --api-auth (401)
    assert set(own.values()) == {401 if mode.has_api_auth else 404}, own
    mismatches = []
    for method, path, body in doors(captioner):
        got = status_of(server, method, path, body, auth)
        table.append((mode_name, f"{method} {path}", credentials, str(got), str(own[method])))
        if got != own[method]:
            mismatches.append(f"{method} {path} answered {got}; the WebUI answers {own[method]}")
    assert not mismatches, f"{mode_name}: " + "; ".join(mismatches)


def test_the_api_credentials_open_every_door(door_server, captioner, table):
    mode_name, mode, server = door_server
    if not mode.has_api_auth:
        # no credentials open an API that is off: nothing to try beyond the stranger's test
        assert status_of(server, "GET", *OWN_DOOR["GET"], API_USER) == 404
        return
    assert status_of(server, "GET", *OWN_DOOR["GET"], API_USER) == 200
    for method, path, body in doors(captioner):
        if method == "GET":
            response = server.get(path, auth=API_USER)
        else:
            response = server.post(path, json=body, auth=API_USER)
        expected = "422" if path.startswith("/sdapi/") else "200"
        table.append((mode_name, f"{method} {path}", "--api-auth user", str(response.status_code), expected))
        if path.startswith("/sdapi/"):
            # the bad DNP arg: a 422 naming the field, nothing generated
            assert response.status_code == 422, (path, response.text[:500])
            assert "dns_scale" in str(response.json()["detail"])
        else:
            assert response.status_code == 200, (path, response.text[:500])
    preview = server.post("/dnp/v1/preview", json=doors(captioner)[3][2], auth=API_USER).json()
    assert len(preview["images"]) == 1 and preview["images"][0] and preview["captions"][0]

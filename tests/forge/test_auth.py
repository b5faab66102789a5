"""DNP's /dnp/v1 routes behind Forge's --api-auth: refused without the credentials, answered with them, like the
WebUI's own /sdapi/v1 routes."""

from __future__ import annotations

import pytest
from webui.server import WebUI

CREDENTIALS = ("dnp-test", "not-a-secret")


@pytest.fixture(scope="module")
def auth_webui(webui_assets):
    server = WebUI("auth", webui_assets, ui=False, args=("--api-auth", ":".join(CREDENTIALS)), env={})
    server.http.auth = CREDENTIALS  # the readiness probe and every request of this session send them
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", "/dnp/v1/schema", None),
        ("GET", "/dnp/v1/captioners", None),
        ("GET", "/dnp/v1/status", None),
        ("POST", "/dnp/v1/unload", None),
        ("POST", "/dnp/v1/preview", {"prompt": "a cat", "steps": 2, "width": 64, "height": 64}),
    ],
)
def test_dnp_routes_need_the_api_credentials(auth_webui, method, path, body):
    import requests

    anonymous = requests.request(method, auth_webui.url + path, json=body, timeout=60)
    assert anonymous.status_code == 401, (path, anonymous.status_code, anonymous.text[:300])
    wrong = requests.request(method, auth_webui.url + path, json=body, auth=("dnp-test", "wrong"), timeout=60)
    assert wrong.status_code == 401, (path, wrong.status_code)
    if method == "GET" or path.endswith(
        "unload"
    ):  # preview would sample: its refusal is what is checked here
        allowed = auth_webui.http.request(method, auth_webui.url + path, json=body, timeout=60)
        assert allowed.status_code == 200, (path, allowed.status_code, allowed.text[:300])


def test_the_webuis_own_routes_agree(auth_webui):
    import requests

    assert requests.get(auth_webui.url + "/sdapi/v1/options", timeout=60).status_code == 401
    assert auth_webui.get("/sdapi/v1/options").status_code == 200

"""X/Y/Z plot axes for DNP options in a real WebUI (issue 5, item 4), driven through the API."""

from __future__ import annotations

import numpy as np
import pytest

from .harness import PASTE_BACK
from .test_api import dns_images_sampled
from .test_dnp import BASE, dnp, field, negative_of

AXES = [
    "[DNP] Enable DNP",
    "[DNP] Mode",
    "[DNP] DNS scale",
    "[DNP] DNS steps",
    "[DNP] Captioner",
    "[DNP] Composition",
]


def axis_labels(webui) -> list[str]:
    info = webui.get("/sdapi/v1/script-info").json()
    (xyz,) = [s for s in info if s["name"] == "x/y/z plot" and not s["is_img2img"]]
    return xyz["args"][0]["choices"]  # the X type dropdown, in index order


def xyz_args(labels: list[str], x: tuple[str, str], y: tuple[str, str] | None = None) -> list:
    """script_args of the X/Y/Z plot: axes by label with comma-separated values, legend on, cells returned."""
    nothing = (labels.index("Nothing"), "", [])
    x_axis = (labels.index(x[0]), x[1], [v.strip() for v in x[1].split(",")])
    y_axis = nothing if y is None else (labels.index(y[0]), y[1], [v.strip() for v in y[1].split(",")])
    # draw_legend, include_lone_images, include_sub_grids, no_fixed_seeds, vary x/y/z, margin, csv_mode
    return [*x_axis, *y_axis, *nothing, True, True, False, False, False, False, False, 0, True]


def xyz(webui, labels, captioner, x, y=None, **dnp_fields):
    return webui.txt2img(
        **BASE,
        script_name="x/y/z plot",
        script_args=xyz_args(labels, x, y),
        alwayson_scripts=dnp(captioner, **dnp_fields),
    )


def cells_of(webui, response) -> list[tuple[str, str]]:
    """(image, infotext) of each cell: the response holds the grid first, then the cells."""
    info = webui.info(response)
    assert "dnp" not in info  # the grid is no one image: its info carries no per-image DNP entry
    start = info["index_of_first_image"]
    return list(zip(response["images"][start:], info["infotexts"][start:]))


def test_axes_exist_in_api_only_and_ui_mode(webui, webui_ui):
    for server in (webui, webui_ui):
        labels = axis_labels(server)
        assert all(axis in labels for axis in AXES), labels
        assert "[DNP] Preset" in labels and "[DNP] DNS size" in labels


def test_a_dnp_axis_gives_cells_with_its_values(webui, captioner):
    labels = axis_labels(webui)
    r = xyz(webui, labels, captioner, ("[DNP] DNS scale", "2, 9"), cache=False)
    cells = cells_of(webui, r)
    assert len(cells) == 2
    for (_, text), scale in zip(cells, (2.0, 9.0)):
        assert field(text, "DNP").endswith(f"; dns_scale={scale}"), text
    # each cell is the image DNP gives for that value alone
    for (image, text), scale in zip(cells, (2.0, 9.0)):
        alone = webui.txt2img(**BASE, alwayson_scripts=dnp(captioner, dns_scale=scale, cache=False))
        assert negative_of(webui.infotexts(alone)[0]) == negative_of(text)
        assert np.array_equal(webui.decode_image(image), webui.decode_image(alone["images"][0]))


@pytest.mark.parametrize("order", ["False, True", "True, False"])
def test_enable_axis_cells_carry_their_own_dnp_infotext_and_paste_back(webui, captioner, order):
    """Each cell reports DNP only when it ran DNP, in either order of the values (issue 13: the False cell after a
    True one reported the True cell's `DNP` and `DNP caption`), and its parameters regenerate that very cell."""
    labels = axis_labels(webui)
    r = xyz(webui, labels, captioner, ("[DNP] Enable DNP", order), enabled=False)
    cells = cells_of(webui, r)
    assert len(cells) == 2
    for (image, text), value in zip(cells, order.split(", ")):
        if value == "True":
            assert field(text, "DNP") and field(text, "DNP caption"), text
            assert negative_of(text).startswith("blurry, ")
        else:
            assert field(text, "DNP") is None and field(text, "DNP caption") is None, text
            assert negative_of(text) == "blurry"
        again = webui.txt2img(infotext=text, width=64, height=64, **PASTE_BACK)
        (again_text,) = webui.infotexts(again)
        assert field(again_text, "DNP") == field(text, "DNP") and negative_of(again_text) == negative_of(text)
        assert np.array_equal(webui.decode_image(image), webui.decode_image(again["images"][0]))


def test_a_cfg_axis_reuses_the_dns_pass_per_seed(webui, captioner):
    """With the DNS scale fixed, CFG changes only the main pass: one DNS image for the whole row."""
    labels = axis_labels(webui)
    before = dns_images_sampled(webui)
    r = xyz(webui, labels, captioner, ("CFG Scale", "4, 7, 10"), dns_scale=5.0, cache=True)
    assert dns_images_sampled(webui) - before <= 1  # 0 when an earlier test left this very DNS image cached
    texts = [text for _, text in cells_of(webui, r)]
    assert len(texts) == 3 and len({negative_of(t) for t in texts}) == 1
    assert [field(t, "CFG scale") for t in texts] == ["4.0", "7.0", "10.0"]
    # whereas with the DNS scale following CFG, every column has its own DNS pass
    before = dns_images_sampled(webui)
    xyz(webui, labels, captioner, ("CFG Scale", "4.5, 7.5, 10.5"), cache=True)
    assert dns_images_sampled(webui) - before == 3


@pytest.mark.parametrize(
    "axis, values, words",
    [
        ("[DNP] DNS scale", "3, 99", "99"),
        ("[DNP] Composition", "append, sideways", "sideways"),
        ("[DNP] Captioner", "blip-larg", "not a captioner key"),
    ],
)
def test_bad_axis_values_get_422_before_the_grid(webui, captioner, axis, values, words):
    labels = axis_labels(webui)
    before = dns_images_sampled(webui)
    payload = {
        **BASE,
        "script_name": "x/y/z plot",
        "script_args": xyz_args(labels, (axis, values)),
        "alwayson_scripts": dnp(captioner),
    }
    r = webui.post("/sdapi/v1/txt2img", json=payload)
    assert r.status_code == 422, r.text[:500]
    details = r.json()["detail"]  # a bad captioner may also be refused by the server's captioner policy
    assert all(detail["loc"][:2] == ["body", "script_args"] for detail in details), details
    assert any(words in detail["msg"] and axis in detail["msg"] for detail in details), details
    assert dns_images_sampled(webui) == before

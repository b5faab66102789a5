"""Batches of every shape finish, and each DNP image is a plain generation with the negative its infotext reports
(issue 12 items 2 and 5): a real WebUI, the tiny checkpoint and the tiny captioner whose captions have BLIP-large's
CLIP-token lengths, realistic user negatives (fixtures/negatives.py: empty to 275 tokens, emphasis, BREAK, a
textual-inversion embedding), a style with a negative, emphasis and BREAK in the prompt.

Design: a covering array, not the full grid (4 × 2 × 4 × 2 × 2 = 128 jobs, ~8 min here). Batch size × negative is
walked in full (16 jobs), because the crash lives there: the negatives of one batch differ in chunk count only
when there are two or more images and a negative near a chunk boundary. Batch count, hires fix and style are set
so that every pair of levels of any two of the five factors occurs (checked by `test_the_design_covers_every_pair`).
60 images, plus one SDXL batch of 3. The oracle of each batch of a job: a plain request of one batch of the same
size at that batch's first seed, whose image i has the prompt and negative image i reports (the test-only variants
extension expands `{aaa:n0|n1|...}` per image, as sd-dynamic-prompts does); every image must be pixel-identical to
its row. (A plain batch of one is not: on CPU the WebUI's own batch of two differs from two single images by one
8-bit level.) One plain image per DNP image: the earlier oracle, a whole plain job per image, cost 300 images.
The tried/held figures are printed at the end of the module.
"""

from __future__ import annotations

import itertools

import pytest

from lib_dnp.negatives import strip_padding

from .fixtures.make_negative_fixtures import STYLE
from .fixtures.negatives import PROMPT, USER_NEGATIVES
from .fixtures.testext import SDXL, VARIANTS_LINKS, same_image
from .harness import BASE, field, negative_of

# hr_cfg and hr_additional_modules are Forge's (see HIRES in test_dnp.py; A1111's API ignores them)
HIRES = {"enable_hr": True, "hr_scale": 1.5, "hr_upscaler": "Latent", "denoising_strength": 0.6,
         "hr_second_pass_steps": 2, "hr_cfg": 7.0, "hr_additional_modules": ["Use same choices"]}  # fmt: skip
NEGATIVES = list(USER_NEGATIVES)
# the variants extension's copy that runs before DNP (either would do: DNP is off in the oracles)
VARIANT_TAG = VARIANTS_LINKS[0].split("-")[0]


def _design() -> list[tuple[int, int, str, bool, bool]]:
    """(batch size, batch count, negative, hires, style) for every job."""
    rows = []
    for b, n in itertools.product(range(4), range(4)):
        rows.append(
            (b + 1, 1 + (b + n) % 2, NEGATIVES[n], bool((b // 2 + n // 2) % 2), bool((b + n // 2) % 2))
        )
    return rows


DESIGN = _design()
TALLY = {"images tried": 0, "images held": 0, "jobs": 0, "padded images": 0}


@pytest.fixture(scope="module", autouse=True)
def report_tally(request, webui_assets):
    webui_assets.require("negative_fixtures")
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    line = "[DNP] batch shapes: " + ", ".join(f"{key} {value}" for key, value in TALLY.items())
    if reporter is not None:
        reporter.write_line(line)
    print(line)


def dnp(captioner: str) -> dict:
    return {"DNP": {"args": [{"enabled": True, "captioner": captioner}]}}


def prompt_of(infotext: str) -> str:
    return infotext.split("\nNegative prompt: ")[0]


def per_image(texts: list[str]) -> str:
    """One text the test-only variants extension expands to texts[i] in image i of a plain job."""
    assert not any(set(text) & set("{}|") for text in texts), texts
    return "{" + VARIANT_TAG + ":" + "|".join(texts) + "}"


def check_every_image(
    server, oracle_server, response: dict, payload: dict, extra: dict | None = None
) -> None:
    """Each image: its own caption in its negative, and pixel-identical to its row of a plain generation with the
    prompt, negative (and hires negative) and seed its infotext reports."""
    infotexts = server.infotexts(response)
    batch_size, count = payload["batch_size"], payload["batch_size"] * payload["n_iter"]
    assert len(response["images"]) == count and len(infotexts) == count
    info = server.info(response)
    captions = [field(text, "DNP caption") for text in infotexts]
    assert all(captions) and not any(info["dnp"]["errors"]), (captions, info["dnp"]["errors"])
    if count > 1:
        assert len(set(captions)) > 1, captions
    negatives = []
    for index, (text, caption) in enumerate(zip(infotexts, captions)):
        negative = negative_of(text)
        assert negative == info["all_negative_prompts"][index] == info["dnp"]["negatives"][index]
        padding = int(field(text, "DNP padding") or 0)
        TALLY["padded images"] += bool(padding)
        own = strip_padding(negative, padding)
        assert own == caption or own.endswith(", " + caption), (own, caption)
        negatives.append(negative)
    # The oracle of each batch of the job: one plain batch of the same size (on CPU a batch of one is not
    # bit-identical to a row of a batch of two, with or without DNP) at the batch's first seed, whose image i has
    # the prompt and negative (and hires negative) that image i's infotext reports, through the variants extension
    # as sd-dynamic-prompts gives each image its own; every image is compared with its row.
    for first in range(0, count, batch_size):
        rows = range(first, first + batch_size)
        texts = [infotexts[i] for i in rows]
        plain = {
            **BASE, **(extra or {}), "prompt": per_image([prompt_of(t) for t in texts]),
            "negative_prompt": per_image([negatives[i] for i in rows]), "seed": int(field(texts[0], "Seed")),
            "batch_size": batch_size, "n_iter": 1,
        }  # fmt: skip
        if payload.get("enable_hr"):
            hires_negatives = [field(t, "Hires negative prompt") or negatives[i] for t, i in zip(texts, rows)]
            plain.update(HIRES, hr_negative_prompt=per_image(hires_negatives))
        oracle = oracle_server.txt2img(**plain)
        for row, index in enumerate(rows):
            TALLY["images tried"] += 1
            assert same_image(server, response["images"][index], oracle["images"][row]), index
            TALLY["images held"] += 1


def levels_of(design: list[tuple], factor: int) -> list:
    return sorted({row[factor] for row in design})


def missing_pairs(design: list[tuple], factors: tuple[int, ...]) -> list[tuple]:
    """The (factor i, factor j, level of i, level of j) that no row of the design holds."""
    missing = []
    for i, j in itertools.combinations(factors, 2):
        held = {(row[i], row[j]) for row in design}
        missing += [(i, j, a, b) for a, b in itertools.product(levels_of(design, i), levels_of(design, j))
                    if (a, b) not in held]  # fmt: skip
    return missing


def test_the_design_covers_every_pair():
    assert [len(levels_of(DESIGN, i)) for i in range(5)] == [4, 2, 4, 2, 2] and len(DESIGN) == 16
    assert len({row[:1] + row[2:3] for row in DESIGN}) == 16  # batch size × negative in full
    assert missing_pairs(DESIGN, tuple(range(5))) == []


def design_ids(design: list[tuple]) -> list[str]:
    return [f"b{b}x{c}-{n}{'-hires' if h else ''}{'-style' if s else ''}" for b, c, n, h, s in design]


def run_design_row(webui, oracle_server, captioner: str, row: tuple, seed: int) -> None:
    """One job of a design: DNP on `webui`, each batch checked against a plain batch of `oracle_server`."""
    batch_size, batch_count, negative, hires, style = row
    payload = {
        **BASE, "prompt": PROMPT, "negative_prompt": USER_NEGATIVES[negative], "batch_size": batch_size,
        "n_iter": batch_count, "seed": seed, **(HIRES if hires else {}), "styles": [STYLE] if style else [],
    }  # fmt: skip
    response = webui.txt2img(**payload, alwayson_scripts=dnp(captioner))
    TALLY["jobs"] += 1
    check_every_image(webui, oracle_server, response, payload)


@pytest.mark.parametrize("row", DESIGN, ids=design_ids(DESIGN))
def test_every_image_of_the_batch(webui, testext_webui, captioner, row):
    run_design_row(webui, testext_webui, captioner, row, seed=1000 + 10 * DESIGN.index(row))


def test_a_later_batch_reports_its_own_hires_negative(webui):
    """One job, batch size 1, count 2, hires fix: the second image's infotext names the hires negative its hires
    pass used, and a plain generation of its own with what the infotext reports is that image.

    The WebUI v1.10 reads the hires negative for the infotext with the position in the batch, so before DNP wrote
    that entry itself the second image reported the first image's hires negative ("lowres, red"); its image was
    right, its report was not (the row b1x2-huge-hires-style of the grid above failed on this)."""
    payload = {**BASE, **HIRES, "negative_prompt": "blurry", "hr_negative_prompt": "lowres", "batch_size": 1,
               "n_iter": 2, "seed": 3000}  # fmt: skip
    captions = {"enabled": True, "mode": "manual", "captions": ["red", "green"]}
    response = webui.txt2img(**payload, alwayson_scripts={"DNP": {"args": [captions]}})
    infotexts = webui.infotexts(response)
    assert [field(text, "Hires negative prompt") for text in infotexts] == ["lowres, red", "lowres, green"]
    for index, text in enumerate(infotexts):
        plain = {**payload, "n_iter": 1, "seed": 3000 + index, "negative_prompt": negative_of(text),
                 "hr_negative_prompt": field(text, "Hires negative prompt")}  # fmt: skip
        assert same_image(webui, response["images"][index], webui.txt2img(**plain)["images"][0]), index


def test_the_grid_pads_some_batches():
    """The grid meets the crash condition: some batches held negatives of different chunk counts."""
    assert TALLY["padded images"] > 0, TALLY


def test_an_sdxl_batch(testext_webui, webui_assets, captioner):
    webui_assets.require("tiny_sdxl")
    on_sdxl = {"override_settings": {"sd_model_checkpoint": f"{SDXL}.safetensors"}}
    payload = {**BASE, "prompt": PROMPT, "negative_prompt": USER_NEGATIVES["huge"], "batch_size": 3, "n_iter": 1,
               "seed": 2000}  # fmt: skip
    response = testext_webui.txt2img(**payload, **on_sdxl, alwayson_scripts=dnp(captioner))
    TALLY["jobs"] += 1
    check_every_image(testext_webui, testext_webui, response, payload, on_sdxl)

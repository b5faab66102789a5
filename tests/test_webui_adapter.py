"""The WebUI adapter's pure parts, without a WebUI: widget mapping, per-image infotext, paste-back, overrides."""

from __future__ import annotations

import sys
import types

import pytest

from lib_dnp import infotext
from lib_dnp.errors import DnpError, UnexpectedError
from lib_dnp.negatives import compose_negative
from lib_dnp.params import DnpParams, DnpParamsError, parse_params
from lib_dnp.pipeline import ImageResult
from lib_dnp.webui import dns_pass, generation


def test_per_image_values_follow_the_job_index():
    value = generation.per_image(["c0", "c1", "c2", "c3"])
    p = types.SimpleNamespace(batch_size=2, iteration=1)
    # while the images are made, the WebUI passes the batch position and the batch's negatives
    assert value(p=p, index=0, all_negative_prompts=["n2", "n3"]) == "c2"
    assert value(p=p, index=1, all_negative_prompts=["n2", "n3"]) == "c3"
    # for the job's own infotext list it passes the job index and all negatives
    assert value(p=p, index=3, all_negative_prompts=["n"] * 4) == "c3"


def test_hires_negative_of_a_later_batch_is_its_own():
    p = types.SimpleNamespace(
        batch_size=1, iteration=1, all_hr_negative_prompts=["lowres, red", "lowres, green"]
    )
    # the second batch's image, asked with its batch position 0 (the WebUI's own entry answered "lowres, red")
    assert (
        generation.hires_negative(p, 0, "blurry, green", all_negative_prompts=["blurry, green"])
        == "lowres, green"
    )
    # the job's own infotext list: job index and all negatives
    assert generation.hires_negative(p, 0, "blurry, red", all_negative_prompts=["x", "y"]) == "lowres, red"
    # as the WebUI's: nothing when it equals the image's negative
    p.all_hr_negative_prompts = ["blurry, red", "blurry, green"]
    assert generation.hires_negative(p, 0, "blurry, green", all_negative_prompts=["blurry, green"]) is None


def pasted(params: DnpParams, caption: str, negative: str) -> dict:
    fields = {
        "Negative prompt": negative,
        infotext.SETTINGS_KEY: infotext.settings_text(params),
        infotext.CAPTION_KEY: caption,
    }
    generation.on_infotext_pasted("", fields)
    return fields


@pytest.mark.parametrize(
    ("composition", "negative", "restored"),
    [
        ("append", "blurry, a house", "blurry"),
        ("prepend", "a house, blurry", "blurry"),
        ("replace", "a house", ""),
    ],
)
def test_paste_back_restores_the_users_negative(composition, negative, restored):
    params = parse_params({"enabled": True, "composition": composition})
    assert pasted(params, "a house", negative)["Negative prompt"] == restored


def test_paste_without_dnp_changes_nothing():
    fields = {"Negative prompt": "blurry, a house"}
    generation.on_infotext_pasted("", fields)
    assert fields == {"Negative prompt": "blurry, a house"}


def test_xyz_overrides_are_merged_before_validation():
    p = types.SimpleNamespace(_dnp_overrides={"dns_scale": 3.0})
    assert generation.params_for(p, {"enabled": True}).dns_scale == 3.0
    p._dnp_overrides = {"dns_scale": 99.0}
    with pytest.raises(DnpParamsError, match="dns_scale"):
        generation.params_for(p, {"enabled": True})


class FakeP:
    def __init__(self, hires: bool):
        self.all_negative_prompts = ["blurry", "blurry"]
        self.enable_hr = hires
        self.all_hr_negative_prompts = ["hires own", "hires own"]
        self.extra_generation_params: dict = {}
        self.comments: dict = {}
        self.batch_size = 2

    def comment(self, text):
        self.comments[text] = 1


def use_word_chunks(monkeypatch):
    """Words as CLIP tokens, chunked the WebUI's way (tests/test_negatives.py), instead of the WebUI's chunker."""
    from tests.test_negatives import webui_chunks

    monkeypatch.setattr(generation, "_count_tokens", lambda text: len(text.split()))
    monkeypatch.setattr(generation.chunks, "main_counter", lambda p: webui_chunks)
    monkeypatch.setattr(generation.chunks, "hires_counter", lambda p: webui_chunks)


def test_apply_results_writes_negatives_hires_and_infotext(monkeypatch):
    use_word_chunks(monkeypatch)
    p = FakeP(hires=True)
    results = [
        ImageResult(index=0, negative="blurry, a house", caption="a house"),
        ImageResult(index=1, negative="blurry", failure=DnpError("captioner exploded")),
    ]
    generation.apply_results(p, parse_params({"enabled": True}), results)
    assert p.all_negative_prompts == ["blurry, a house", "blurry"]
    assert p.all_hr_negative_prompts == ["hires own, a house", "hires own"]
    assert p.main_negative_prompt == "blurry, a house"
    assert p.extra_generation_params["DNP"] == "mode=auto"
    caption = p.extra_generation_params["DNP caption"]
    assert caption(p=p, index=0) == "a house" and caption(p=p, index=1) is None
    assert p.extra_generation_params["DNP error"](p=p, index=1) == "captioner exploded"
    assert any("captioner exploded" in text and "your own negative" in text for text in p.comments)
    assert p.extra_generation_params["Hires negative prompt"] is generation.hires_negative


def test_apply_results_pads_the_shorter_negatives_of_each_batch(monkeypatch):
    use_word_chunks(monkeypatch)
    p = FakeP(hires=True)
    user = " ".join(["worst"] * 70)
    p.all_negative_prompts = [user] * 4
    p.all_hr_negative_prompts = [user] * 4
    long_caption = "a skateboarder on a cobblestone street near a hydrant"  # 70 + 1 + 9 words: two chunks
    captions = ["a cat", long_caption, "a dog", None]
    results = [
        ImageResult(index=i, negative=compose_negative(user, c, "append") if c else user, caption=c)
        for i, c in enumerate(captions)
    ]
    results[3].failure = UnexpectedError("captioner exploded")
    generation.apply_results(p, parse_params({"enabled": True}), results)
    first = f"{user}, a cat BREAK BREAK"
    assert p.all_negative_prompts == [first, f"{user}, {long_caption}", f"{user}, a dog", user]
    assert p.all_hr_negative_prompts == p.all_negative_prompts
    assert [r.negative for r in results] == p.all_negative_prompts  # the API's `dnp.negatives` too
    assert p.main_negative_prompt == first
    padding = p.extra_generation_params["DNP padding"]
    assert [padding(p=p, index=i) for i in range(4)] == [2, None, None, None]
    fields = {
        "Negative prompt": first,
        infotext.SETTINGS_KEY: infotext.settings_text(parse_params({"enabled": True})),
        infotext.CAPTION_KEY: "a cat",
        "DNP padding": "2",
    }
    generation.on_infotext_pasted("", fields)
    assert fields["Negative prompt"] == user


def test_apply_results_falls_back_to_the_users_negatives_when_padding_fails(monkeypatch):
    use_word_chunks(monkeypatch)
    from tests.test_negatives import webui_chunks

    # an unclosed "(" would turn a trailing BREAK into words; model that as a BREAK that adds nothing
    monkeypatch.setattr(
        generation.chunks, "main_counter", lambda p: lambda t: webui_chunks(t.replace("BREAK", ""))
    )
    p = FakeP(hires=False)
    user = "(" + " ".join(["worst"] * 70)
    p.all_negative_prompts = [user, user]
    results = [
        ImageResult(index=0, negative=f"{user}, a cat", caption="a cat"),
        ImageResult(
            index=1, negative=f"{user}, a skateboarder on a cobblestone street", caption="a skateboarder"
        ),
    ]
    generation.apply_results(p, parse_params({"enabled": True}), results)
    assert p.all_negative_prompts == [user, user]
    kept = getattr(p, generation.RESULTS)
    assert all(r.caption is None and "different lengths" in r.error for r in kept)
    assert any("2 image(s) generated with your own negative prompt" in text for text in p.comments)


def test_swap_callback_acts_only_on_the_dns_pass():
    class Params:
        def __init__(self, p):
            self.denoiser = types.SimpleNamespace(p=p)
            self.text_cond, self.text_uncond = "cond", "uncond"

    import torch

    main = Params(types.SimpleNamespace())
    dns_pass.on_cfg_denoiser(main)
    assert (main.text_cond, main.text_uncond) == ("cond", "uncond")

    nested = types.SimpleNamespace(_dnp_dns_pass=True, _dnp_swaps=0, _dnp_swap_error=None)
    params = Params(nested)
    params.text_cond, params.text_uncond = torch.ones(1, 3), torch.zeros(1, 3)
    dns_pass.on_cfg_denoiser(params)
    assert params.text_cond.sum() == 0 and nested._dnp_swaps == 1

    params.text_cond, params.text_uncond = torch.ones(2, 3), torch.zeros(1, 3)  # AND prompt rows
    dns_pass.on_cfg_denoiser(params)
    assert nested._dnp_swap_error is not None  # remembered, so the pass fails instead of sampling plain CFG


def test_batches_and_prompts_of_the_dns_pass():
    assert dns_pass._group_by_batch([0, 1, 3, 4], 2) == [[0, 1], [3], [4]]
    assert dns_pass.dns_prompt("a cat AND a dog") == "a cat, a dog"


def test_install_py_installs_only_what_is_missing(monkeypatch):
    import importlib.util
    from pathlib import Path

    calls = []
    monkeypatch.setitem(sys.modules, "launch", types.SimpleNamespace(run_pip=lambda *a: calls.append(a)))
    spec = importlib.util.spec_from_file_location("dnp_install", Path(__file__).parents[1] / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # installs nothing here: every requirement is present
    assert calls == []
    monkeypatch.setattr(module, "REQUIRED", {"transformers": "transformers", "not_a_module_xyz": "xyz-pkg"})
    module.main()
    assert len(calls) == 1 and "xyz-pkg" in calls[0][0]
    assert "-U" not in calls[0][0] and "--upgrade" not in calls[0][0]


def test_the_dns_pass_gives_the_global_rng_back(monkeypatch):
    """What the nested pass does to torch's global generator and the WebUI's NV generator is undone afterwards
    (a plain img2img draws its init encoding from the global one: dns_pass._global_rng_kept)."""
    import torch

    rng = types.SimpleNamespace(nv_rng=["philox", 7])
    monkeypatch.setitem(sys.modules, "modules", types.SimpleNamespace(rng=rng))
    monkeypatch.setitem(sys.modules, "modules.rng", rng)
    torch.manual_seed(5)
    expected = torch.randn(4)
    torch.manual_seed(5)
    with dns_pass._global_rng_kept():
        torch.manual_seed(100)  # what ImageRNG.first does for each image of the pass
        torch.randn(8)
        rng.nv_rng.append("drawn")
        rng.nv_rng = ["philox", 100]
    assert torch.equal(torch.randn(4), expected)
    assert rng.nv_rng == ["philox", 7]
    del rng.nv_rng  # no NV generator before the pass (none used yet): none after it
    with dns_pass._global_rng_kept():
        rng.nv_rng = ["philox", 100]
    assert not hasattr(rng, "nv_rng")


def test_returned_dns_images_sit_beside_their_infotexts():
    """ControlNet's postprocess (when it runs before ours) appends its detected map without an infotext; that map
    gets an empty one, so that the UI's and the API's pairing of images and infotexts by position holds for the
    DNS images appended after it."""

    class Processed:
        def __init__(self) -> None:
            self.images = ["grid", "image 1", "image 2", "detected map"]
            self.infotexts = ["grid text", "text 1", "text 2"]

    p = types.SimpleNamespace(is_api=True, all_seeds=[7, 8])
    setattr(
        p, generation.RESULTS, [ImageResult(index=i, negative="", dns_image=f"dns {i + 1}") for i in (0, 1)]
    )
    setattr(p, generation.RETURN_IMAGES, True)
    processed = Processed()
    generation.postprocess(p, processed, "txt2img")
    assert processed.images == ["grid", "image 1", "image 2", "detected map", "dns 1", "dns 2"]
    texts = ["grid text", "text 1", "text 2", "", "DNS image 1, seed 7", "DNS image 2, seed 8"]
    assert processed.infotexts == texts

    plain = Processed()  # every image has its infotext: the DNS images and theirs are appended
    plain.images.pop()
    generation.postprocess(p, plain, "txt2img")
    assert plain.images[3:] == ["dns 1", "dns 2"] and plain.infotexts == texts[:3] + texts[4:]

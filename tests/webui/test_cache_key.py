"""The DNS cache key cannot go stale (issue 12, item 4): what can change a DNS image misses, the rest hits.

The test-only extension counts DNS passes (GET /dnp-testext/state), so a miss is a new pass and a hit is none.
Every case first proves the unchanged request is served from the cache at that moment, then changes one thing.
The API keeps the options it is sent: every change is put back.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from .fixtures.testext import BASE, LORA, dnp, negative_of
from .test_dns_options import options

REQUEST = {**BASE, "seed": 400}
HIRES = {
    "enable_hr": True,
    "hr_scale": 2,
    "hr_upscaler": "Latent",
    "denoising_strength": 0.6,
    "hr_second_pass_steps": 2,
    "hr_cfg": 7.0,  # Forge's hires fields (see HIRES in test_dnp.py; A1111's API ignores them)
    "hr_additional_modules": ["Use same choices"],
}

# Options the DNS pass's sampling or conditioning reads, each with a value other than the default.
DNS_OPTIONS = {
    "emphasis": "No norm",
    "use_old_emphasis_implementation": True,
    "CLIP_stop_at_last_layers": 2,
    "s_noise": 0.9,
    "eta_ancestral": 0.5,
    "eta_noise_seed_delta": 31337,
    "randn_source": "CPU",
    "always_discard_next_to_last_sigma": True,
    "sgm_noise_multiplier": True,
    "sd_noise_schedule": "Zero Terminal SNR",
    "skip_early_cond": 0.5,
    "token_merging_ratio": 0.5,
    "comma_padding_backtrack": 5,
}


def passes(server) -> int:
    return int(server.get("/dnp-testext/state").json()["dns_passes"])


def generate(server, captioner: str, **changes) -> dict:
    r = server.txt2img(**{**REQUEST, **changes}, alwayson_scripts=dnp(captioner, cache=True, dns_scale=5.0))
    assert server.info(r)["dnp"]["errors"] == [None], server.info(r)["dnp"]
    return r


def assert_cached(server, captioner: str, **changes) -> dict:
    before = passes(server)
    r = generate(server, captioner, **changes)
    assert passes(server) == before and server.info(r)["dnp"]["from_cache"] == [True], "expected a cache hit"
    return r


def assert_missed(server, captioner: str, **changes) -> dict:
    before = passes(server)
    r = generate(server, captioner, **changes)
    assert passes(server) == before + 1, "expected a new DNS pass"
    return r


@pytest.fixture
def warm(testext_webui, captioner):
    """The unchanged request is in the cache."""
    generate(testext_webui, captioner)
    assert_cached(testext_webui, captioner)
    return testext_webui


def test_each_option_the_dns_pass_reads_misses(warm, captioner):
    """One option at a time: set, a new DNS pass; back to the user's value, the first entry serves again."""
    stale = []
    for name, value in DNS_OPTIONS.items():
        with options(warm, {name: value}):
            before = passes(warm)
            generate(warm, captioner)
            if passes(warm) != before + 1:
                stale.append(name)
        assert_cached(warm, captioner)
    assert stale == [], f"served from the cache after a change of {stale}"


def test_a_lora_file_replaced_under_its_name_misses(testext_webui, captioner, webui_assets):
    prompt = f"<lora:{LORA}:1>{REQUEST['prompt']}"
    generate(testext_webui, captioner, prompt=prompt)
    assert_cached(testext_webui, captioner, prompt=prompt)
    path = webui_assets.webui_dir / "models" / "Lora" / f"{LORA}.safetensors"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # as a copy of a retrained file would
    try:
        assert_missed(testext_webui, captioner, prompt=prompt)
    finally:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_main_pass_only_settings_hit(warm, captioner):
    assert_cached(warm, captioner, cfg_scale=3.0)  # dns_scale is set: CFG is the main pass's only
    user = assert_cached(warm, captioner, negative_prompt="lowres, watermark")
    assert negative_of(warm.infotexts(user)[0]).startswith("lowres, watermark, ")
    hires = assert_cached(warm, captioner, **HIRES)
    with options(warm, {"img2img_extra_noise": 0.5}):  # "for img2img and hires fix": a main-pass option
        noisy = assert_cached(warm, captioner, **HIRES)
    assert not np.array_equal(warm.decode_image(hires["images"][0]), warm.decode_image(noisy["images"][0]))
    with options(warm, {"samples_format": "jpg", "face_restoration_model": "GFPGAN"}):
        assert_cached(warm, captioner)

"""The WebUI DNS cache key, derived from the WebUI's option metadata and what DNS passes read (no WebUI needed)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from lib_dnp.webui import dns_key, dns_pass

SECTIONS = {
    "emphasis": "sd",
    "s_noise": "sampler-params",
    "samples_format": "saving-images",
    "img2img_extra_noise": "img2img",
    "sd_checkpoint_hash": None,  # a hidden option
}
VALUES = {
    "emphasis": "Original",
    "s_noise": 1.0,
    "samples_format": "png",
    "img2img_extra_noise": 0.0,
    "sd_checkpoint_hash": "abc",
    "new_extension_option": 3,  # no metadata: unknown
}


def keyed(read=(), **changes):
    return dns_key.keyed_options({**VALUES, **changes}, SECTIONS, read)


def test_sampling_conditioning_hidden_and_unknown_options_are_keyed():
    assert set(keyed()) == {"emphasis", "s_noise", "sd_checkpoint_hash", "new_extension_option"}
    for name, value in [("emphasis", "No norm"), ("s_noise", 0.9), ("new_extension_option", 4)]:
        assert keyed(**{name: value}) != keyed(), name


def test_options_of_sections_the_dns_pass_never_reaches_are_not_keyed():
    assert keyed(samples_format="jpg", img2img_extra_noise=0.5) == keyed()


def test_a_skipped_option_that_a_dns_pass_read_is_keyed():
    read = {"img2img_extra_noise"}
    assert keyed(read, img2img_extra_noise=0.5) != keyed(read)
    assert keyed(read, samples_format="jpg") == keyed(read)


def test_section_of_reads_the_option_metadata():
    assert (
        dns_key.section_of(SimpleNamespace(section=("sampler-params", "Sampler parameters")))
        == "sampler-params"
    )
    assert dns_key.section_of(SimpleNamespace(section=(None, "Hidden options"))) is None
    assert dns_key.section_of(object()) is None


class Options:
    """The WebUI's Options access paths (modules/options.py): reads through __getattr__, writes into data."""

    def __init__(self, data):
        object.__setattr__(self, "data", data)

    def __getattr__(self, item):
        if item in self.data:
            return self.data[item]
        raise AttributeError(item)

    def __setattr__(self, key, value):
        self.data[key] = value


def test_recording_notes_the_options_read_on_its_thread_only():
    reads = dns_key.OptionReads()
    opts = Options({"s_noise": 1.0, "emphasis": "Original", "samples_format": "png"})
    opts.samples_format  # noqa: B018  (a read before recording)
    with reads.recording(opts):
        assert opts.s_noise == 1.0
        other = threading.Thread(target=lambda: opts.emphasis)
        other.start()
        other.join()
    opts.emphasis  # noqa: B018
    assert reads.names == {"s_noise"}
    assert type(opts) is Options


def test_recording_restores_the_class_when_the_pass_fails():
    reads = dns_key.OptionReads()
    opts = Options({"s_noise": 1.0})
    with pytest.raises(RuntimeError), reads.recording(opts):
        opts.s_noise  # noqa: B018
        raise RuntimeError("sampling failed")
    assert type(opts) is Options and reads.names == {"s_noise"}


def test_named_embeddings_are_those_in_the_prompt_whatever_the_case():
    embeddings = {
        "EasyNegative": SimpleNamespace(hash="h1", vectors=8, filename=None),
        "bad-hands": SimpleNamespace(hash="h2", vectors=4, filename=None),
    }
    assert list(dns_key.named_embeddings("a cat, easynegative", embeddings)) == ["EasyNegative"]
    changed = {**embeddings, "EasyNegative": SimpleNamespace(hash="h3", vectors=8, filename=None)}
    assert dns_key.named_embeddings("a cat, easynegative", changed) != dns_key.named_embeddings(
        "a cat, easynegative", embeddings
    )
    assert dns_key.named_embeddings("a cat", embeddings) == {}


def test_a_file_rewritten_under_its_name_changes_its_stamp(tmp_path):
    path = tmp_path / "lora.safetensors"
    path.write_bytes(b"one")
    before = dns_key.file_stamp(str(path))
    path.write_bytes(b"three")
    assert dns_key.file_stamp(str(path)) != before
    assert dns_key.file_stamp(str(tmp_path / "gone")) == [str(tmp_path / "gone"), None]
    assert dns_key.file_stamp(None) is None


class FrozenOptions(Options):
    """--freeze-settings: every write through the Options API fails (the WebUI asserts)."""

    data_labels = dict.fromkeys(["skip_early_cond", "pad_cond_uncond", "pad_cond_uncond_v0", "s_noise"])

    def __setattr__(self, key, value):
        raise AssertionError("changing settings is disabled")


def test_neutral_options_hold_during_the_pass_and_the_users_come_back_even_with_frozen_settings():
    user = {"skip_early_cond": 0.5, "pad_cond_uncond": True, "s_noise": 0.9}
    opts = FrozenOptions(dict(user))
    with dns_pass._neutral_options(opts):
        assert opts.data == {**user, **dns_pass.NEUTRAL_OPTIONS}
    assert opts.data == user  # pad_cond_uncond_v0 was unset: it is unset again
    with pytest.raises(RuntimeError), dns_pass._neutral_options(opts):
        raise RuntimeError("sampling failed")
    assert opts.data == user


LABELS = {
    name: SimpleNamespace(section=(section, ""), default=VALUES[name]) for name, section in SECTIONS.items()
}


def webui_key(data=None, **option_changes) -> dns_key.WebUIDnsKey:
    return dns_key.WebUIDnsKey(
        model="m",
        prompt="a cat",
        seed=1,
        subseed=0,
        subseed_strength=0.0,
        sampler="Euler a",
        scheduler="automatic",
        steps=4,
        width=64,
        height=64,
        scale=5.0,
        options=dns_key.options_snapshot({**(VALUES if data is None else data), **option_changes}, LABELS),
    )


def test_a_key_picks_its_options_when_used_so_a_first_pass_keys_what_it_read(monkeypatch):
    """The cache looks an entry up before its DNS pass and stores it after: the stored entry is keyed by the
    options that pass read, and a request that changes one of them then misses."""
    monkeypatch.setattr(dns_key, "READS", dns_key.OptionReads())
    key = webui_key()
    changed = webui_key(img2img_extra_noise=0.5)
    assert key.fingerprint() == changed.fingerprint()  # looked up before the pass: not keyed yet
    dns_key.READS.names.add("img2img_extra_noise")  # the pass read it
    assert key.fingerprint() != changed.fingerprint()
    assert key.fingerprint() == webui_key().fingerprint()
    assert key.fingerprint() != webui_key(emphasis="No norm").fingerprint()


def test_an_option_at_its_default_keys_alike_whether_config_json_holds_it_or_not():
    """opts.data holds only what config.json and later changes set: the snapshot fills in the defaults."""
    only_set = {"new_extension_option": 3}
    assert webui_key(only_set).fingerprint() == webui_key().fingerprint()
    assert webui_key(only_set, emphasis="No norm").fingerprint() != webui_key().fingerprint()


def test_a_number_keys_in_its_options_type_as_the_api_echoes_it():
    """GET /sdapi/v1/options answers int options as floats; posting that back changes no key, a real change does."""
    labels = {**LABELS, "clip_skip": SimpleNamespace(section=("sd", ""), default=1)}
    as_read = dns_key.options_snapshot({**VALUES, "clip_skip": 1.0, "s_noise": 1}, labels)
    assert as_read == dns_key.options_snapshot(VALUES, labels)
    assert as_read != dns_key.options_snapshot({**VALUES, "clip_skip": 2.0}, labels)
    assert as_read != dns_key.options_snapshot(
        {**VALUES, "clip_skip": 1.5}, labels
    )  # not rounded into the int
    assert '"clip_skip": ["sd", Infinity]' in dns_key.options_snapshot(
        {**VALUES, "clip_skip": float("inf")}, labels
    )

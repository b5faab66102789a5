"""The accordion's pure parts, without a WebUI: widget slots ↔ params, slider ranges, the per-session view
tickets, the progress count, the X/Y/Z cells' own infotext."""

from __future__ import annotations

import json
import types

import pytest

from lib_dnp.params import DnpParams, DnpParamsError, parse_params
from lib_dnp.webui import progress, views, xyz
from lib_dnp.widgets import (
    CAPTION_SLOTS,
    input_slots,
    params_data,
    params_from_inputs,
    shown_slots,
    widget_specs,
    widget_values,
)


def defaults_by_slot() -> dict:
    return {spec.slot: spec.value for spec in widget_specs()}


def test_the_widgets_defaults_are_the_models():
    assert params_from_inputs(defaults_by_slot()) == DnpParams().dict()
    assert {spec.name for spec in widget_specs()} == set(DnpParams.__fields__)
    assert input_slots()[0] == "enabled"  # the accordion's header checkbox comes first
    assert sum(spec.name == "captions" for spec in widget_specs()) == CAPTION_SLOTS


@pytest.mark.parametrize("spec", [s for s in widget_specs() if s.kind == "slider"], ids=lambda s: s.slot)
def test_every_slider_spans_exactly_what_the_model_accepts(spec):
    for value in (spec.minimum, spec.maximum, (spec.minimum + spec.maximum) / 2):
        parse_params({spec.name: int(value) if spec.step == 1 else value})
    for value in (spec.minimum - spec.step, spec.maximum + spec.step):
        with pytest.raises(DnpParamsError):
            parse_params({spec.name: int(value) if spec.step == 1 else value})


def test_positional_ui_values_map_onto_the_model_like_the_api_dict():
    values = defaults_by_slot()
    values.update(
        enabled=True,
        mode="manual",
        caption_1=" a house ",
        caption_3="a tree",
        max_tokens=20.0,
        dns_scale_set=True,
        dns_scale=5.0,
        dns_size=0.5,  # its "own value" box is off: the preset decides
    )
    data = params_data([values[slot] for slot in input_slots()])
    params = parse_params(data)
    assert params.captions == ["a house", "", "a tree"] and params.max_tokens == 20
    assert params.dns_scale == 5.0 and params.dns_size is None and params.enabled
    api = {"enabled": True, "mode": "auto"}
    assert params_data([api, *[values[slot] for slot in input_slots()[1:]]]) is api
    assert params_data([]) is None
    with pytest.raises(DnpParamsError, match="expected an object of named DNP fields"):
        parse_params(params_data([True, "auto"]))  # neither the UI's shape nor the API's


def test_widget_values_paste_back_to_the_same_params():
    params = parse_params(
        {"enabled": True, "mode": "manual", "captions": ["x", "y"], "dns_steps": 0.5, "rerank": "image"}
    )
    values = widget_values(params)
    assert values["dns_steps_set"] is True and values["dns_scale_set"] is False
    assert parse_params(params_from_inputs(values)) == params


def test_controls_show_only_where_they_apply():
    shown = shown_slots("auto", "off", {"dns_scale_set": True})
    assert shown == {
        "captions": False,
        "candidates": False,
        "dns_scale": True,
        "dns_steps": False,
        "dns_size": False,
    }
    assert shown_slots("manual", "image", {})["captions"] and shown_slots("manual", "image", {})["candidates"]


def test_a_view_ticket_is_redeemed_once_and_only_with_its_own_ticket():
    store = views.Tickets(max_waiting=2)
    first = store.keep(views.View(["img"], ["a cat"]))
    assert store.take("not-" + first) is None and store.take(None) is None
    assert store.take(first).captions == ["a cat"] and store.take(first) is None
    kept = [store.keep(views.View([], [str(i)])) for i in range(3)]
    assert store.take(kept[0]) is None and store.take(kept[2]).captions == ["2"]  # the oldest was dropped
    assert views.ticket_of(json.dumps({"dnp": {"view": "abc"}})) == "abc"
    assert views.ticket_of(json.dumps({"seed": 1})) is None and views.ticket_of("not json") is None


class FakeState:
    """The parts of the WebUI's shared.state its progress API reads, and nextjob as process_images calls it."""

    def __init__(self, job_count: int = -1) -> None:
        self.job_count, self.job_no, self.job, self.textinfo = job_count, 0, "", None
        self.sampling_step, self.sampling_steps = 0, 0
        self.processing_has_refined_job_count = False

    def nextjob(self) -> None:
        self.job_no, self.sampling_step = self.job_no + 1, 0

    def percent(self) -> float:  # as modules/progress.py computes it
        if self.job_count <= 0:
            return 0.0
        share = self.sampling_step / self.sampling_steps if self.sampling_steps else 0
        return min(1.0, (self.job_no + share) / self.job_count)


def sample(state: FakeState, seen: list[float], steps: int = 4) -> None:
    state.sampling_steps = steps
    for step in range(steps + 1):
        state.sampling_step = step
        seen.append(state.percent())
    state.nextjob()
    seen.append(state.percent())


@pytest.mark.parametrize("counted", [False, True], ids=["uncounted", "counted-before-the-first-batch"])
@pytest.mark.parametrize("hires", [False, True])
def test_the_percentage_only_grows_through_dns_captioning_and_the_main_pass(hires, counted):
    state, seen = FakeState(), []
    p = types.SimpleNamespace(n_iter=2, batch_size=2, enable_hr=hires)
    if counted:  # where the DNS pass runs (before_process_batch): the WebUI has counted its own jobs already
        state.job_count = 4 if hires else 2
        state.processing_has_refined_job_count = hires
    stages = progress.Stages(state, main_jobs=progress.main_jobs(p, state), batch_size=p.batch_size)
    stages.on_stage("dns", 4)  # two DNS batches
    assert state.textinfo == f"{progress.DNS_JOB}: 4 images"
    sample(state, seen)
    sample(state, seen)
    stages.on_stage("caption", 4)
    seen.append(state.percent())
    state.job_no = 2.999  # a poll just before captioning ends: the main pass must not start below it
    assert state.job == progress.CAPTION_JOB and state.textinfo == f"{progress.CAPTION_JOB}: 4 images"
    seen.append(state.percent())
    stages.main_pass(p)
    assert state.textinfo == progress.MAIN_JOB
    seen.append(state.percent())
    if hires:
        assert state.processing_has_refined_job_count  # the WebUI's hires set-up leaves the count alone
    for _ in range(4 if hires else 2):
        sample(state, seen)
    assert seen == sorted(seen) and seen[-1] == 1.0, seen
    assert 0 < seen[len(seen) // 3] < 1


def test_a_count_owned_by_the_xyz_plot_is_left_to_it():
    state = FakeState(job_count=6)
    state.job_no = 2
    stages = progress.Stages(state, main_jobs=1, batch_size=1)
    stages.on_stage("dns", 1)
    assert state.job_count == 6 and state.job == progress.DNS_JOB
    state.nextjob()  # the DNS pass's own process_images
    stages.main_pass(types.SimpleNamespace(enable_hr=False))
    assert (state.job_count, state.job_no) == (6, 2)


def test_every_xyz_cell_gets_its_own_infotext_dict():
    shared = {"Sampler": "Euler", "DNP": "mode=auto", "DNP caption": "a dog"}
    cell = types.SimpleNamespace(extra_generation_params=shared)
    xyz.own_infotext(cell, ("DNP", "DNP caption", "DNP error"))
    assert cell.extra_generation_params == {"Sampler": "Euler"}
    cell.extra_generation_params["DNP"] = "x"
    assert shared["DNP"] == "mode=auto"  # the other cells' dict is untouched


def test_the_widgets_show_the_defaults_they_are_given():
    """The accordion's defaults can come from elsewhere (Settings › DNP) without a second list of widgets."""
    specs = {spec.slot: spec for spec in widget_specs(DnpParams(preset="fast", dns_scale=4.0))}
    assert specs["preset"].value == "fast" and specs["dns_scale_set"].value is True
    assert specs["dns_scale"].value == 4.0 and [s.slot for s in specs.values()] == input_slots()

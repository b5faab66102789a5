"""The DNP accordion, on the WebUI's own conventions.

* The enable checkbox sits in the accordion's header (`InputAccordion`, as Hires fix), so a closed accordion still
  shows whether DNP is on.
* The widgets themselves are the script's inputs (one per slot of `lib_dnp.widgets.input_slots()`): gradio reads
  their values when Generate is pressed, and Settings › Defaults (ui-config.json) applies to them as to every WebUI
  control. `widgets.params_data` maps the positional values onto the params model, which the API's dict meets too.
* Everyday options first, the rest under "Advanced"; a control appears only where it applies; the manual flow
  (Preview DNS → the DNS images and one caption box per image → Generate) sits together; every control's tooltip is
  its help text from the params model (set by javascript/dnp.js from a map this module writes into the page).
* What the accordion shows after a generation belongs to the browser session that made it (`views`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from lib_dnp import infotext
from lib_dnp.params import DnpParams, DnpParamsError
from lib_dnp.webui import platform, views
from lib_dnp.widgets import (
    CAPTION_SLOTS,
    SET_SUFFIX,
    WidgetSpec,
    caption_slot,
    input_slots,
    optional_numbers,
    params_from_inputs,
    shown_slots,
    widget_specs,
    widget_values,
)

ACCORDION_LABEL = "DNP"
# the WebUI keys the ui-config.json entries of a script's controls by its file name (scripts/dnp.py)
SCRIPT_SOURCE = "dnp.py"
NOT_RUN = "DNP did not run for the last generation."
WHAT_IS_DNP = (
    "**What is DNP?** It first draws the image your prompt is *least* like (the DNS image, same seed), has a "
    "captioner describe it, and puts that caption in your negative prompt. From A. Desai and N. Vasconcelos, "
    "*Improving image synthesis with diffusion-negative sampling*."
)
BUTTON_HELP = {
    "preview": "Run only the DNS pass and the captioning for the current prompt, seed and size; show the DNS images "
    "with their captions for editing, and switch Mode to manual.",
    "unload": "Free the memory the captioner (and the re-ranking CLIP) holds; it loads again when next needed.",
    "gallery": "The DNS images of this tab's last generation with DNP, or of the last preview.",
}

# The txt2img/img2img components the Preview button reads, by the part of their elem_id after "<tab>_".
PREVIEW_INPUTS = (
    "prompt",
    "neg_prompt",
    "seed",
    "steps",
    "cfg_scale",
    "width",
    "height",
    "batch_size",
    "sampling",
    "scheduler",
)


def accordion_defaults() -> DnpParams:
    """What a new accordion shows before ui-config applies: the params model's defaults, with the captioner and
    preset of Settings › DNP."""
    from lib_dnp.webui import settings

    return DnpParams(**settings.request_defaults())


def _component(gr: Any, spec: WidgetSpec, elem_id: str, visible: bool = True) -> Any:
    common = {"label": spec.label, "value": spec.value, "elem_id": elem_id, "visible": visible}
    if spec.kind == "checkbox":
        return gr.Checkbox(**common)
    if spec.kind == "radio":
        return gr.Radio(choices=list(spec.choices), **common)
    if spec.kind == "dropdown":
        return gr.Dropdown(choices=list(spec.choices), allow_custom_value=True, **common)
    if spec.kind == "textbox":
        return gr.Textbox(lines=1, **common)
    return gr.Slider(minimum=spec.minimum, maximum=spec.maximum, step=spec.step, **common)


def status_html(*lines: str) -> str:
    """The accordion's status line(s), as plain text (captions may hold any characters)."""
    return "<br>".join(html.escape(line) for line in lines if line)


def _caption_lines(captions: list[str]) -> str:
    return status_html(*(f"Image {i + 1}: {c}" for i, c in enumerate(captions) if c))


class Accordion:
    """One tab's accordion: its input components (by slot) and the ones other events need."""

    def __init__(self, tab: str) -> None:
        import gradio as gr

        self.tab = tab
        self.specs = {spec.slot: spec for spec in widget_specs(accordion_defaults())}
        self.inputs: dict[str, Any] = {}
        help_map: dict[str, str] = {}
        enabled = self.specs["enabled"]
        saved_key = f"customscript/{SCRIPT_SOURCE}/{tab}/{ACCORDION_LABEL}/value"
        with platform.input_accordion(
            saved_key, value=enabled.value, label=ACCORDION_LABEL, elem_id=f"dnp_{tab}"
        ) as accordion:
            self.inputs["enabled"] = accordion
            help_map[f"dnp_{tab}-visible-checkbox"] = enabled.info
            gr.Markdown(WHAT_IS_DNP, elem_id=f"dnp_{tab}_about")
            with gr.Row():
                self._add(gr, "mode", help_map)
                self._add(gr, "captioner", help_map)
            with gr.Row():
                self._add(gr, "preset", help_map)
                self._add(gr, "composition", help_map)
            with gr.Row():
                self.preview_button = gr.Button("Preview DNS", elem_id=self.elem_id("preview"))
                self.unload_button = gr.Button("Unload captioner", elem_id=self.elem_id("unload"))
            self.gallery = gr.Gallery(  # shown once there is something to show
                label="DNS images",
                elem_id=self.elem_id("gallery"),
                columns=6,
                height=240,  # two rows of thumbnails, then it scrolls
                preview=False,
                visible=False,
            )
            manual = self.specs["mode"].value == "manual"
            with gr.Column(visible=manual, elem_id=self.elem_id("captions")) as self.captions_group:
                for number in range(1, CAPTION_SLOTS + 1):
                    self._add(gr, caption_slot(number), help_map, visible=number == 1)
            self.status = gr.HTML(elem_id=self.elem_id("status"))
            with gr.Accordion("Advanced", open=False, elem_id=self.elem_id("advanced")):
                for slot, spec in self.specs.items():
                    if spec.advanced:
                        self._add(gr, slot, help_map, visible=self._initially_shown(slot))
            help_map.update({self.elem_id(key): text for key, text in BUTTON_HELP.items()})
            payload = html.escape(json.dumps(help_map), quote=True)
            gr.HTML(
                f'<div class="dnp-help-map" hidden data-help="{payload}"></div>', elem_id=self.elem_id("help")
            )
        self._wire_visibility(gr)

    def elem_id(self, slot: str) -> str:
        return f"dnp_{self.tab}_{slot}"

    def _add(self, gr: Any, slot: str, help_map: dict[str, str], visible: bool = True) -> None:
        spec = self.specs[slot]
        self.inputs[slot] = _component(gr, spec, self.elem_id(slot), visible)
        help_map[self.elem_id(slot)] = spec.info

    def _initially_shown(self, slot: str) -> bool:
        defaults = {s: spec.value for s, spec in self.specs.items()}
        shown = shown_slots(defaults["mode"], defaults["rerank"], defaults)
        return shown.get(slot, True)

    def script_inputs(self) -> list[Any]:
        """The components the script receives, in `input_slots()` order."""
        return [self.inputs[slot] for slot in input_slots()]

    def _wire_visibility(self, gr: Any) -> None:
        """Show each optional control when it applies, on a change and on page load (ui-config may have changed
        the values the page was built with)."""
        dependent = ["captions", "candidates", *optional_numbers()]
        targets = [self.captions_group, *(self.inputs[name] for name in dependent[1:])]
        toggles = [name + SET_SUFFIX for name in optional_numbers()]
        sources = [self.inputs["mode"], self.inputs["rerank"], *(self.inputs[t] for t in toggles)]

        def visibility(mode: str, rerank: str, *toggled: bool) -> list[Any]:
            shown = shown_slots(mode, rerank, dict(zip(toggles, toggled)))
            return [gr.update(visible=shown[name]) for name in dependent]

        for source in sources:
            source.change(fn=visibility, inputs=sources, outputs=targets, show_progress="hidden")

        boxes = [self.inputs[caption_slot(n)] for n in range(1, CAPTION_SLOTS + 1)]

        def on_load(mode: str, rerank: str, *values: Any) -> list[Any]:
            texts = values[len(toggles) :]
            filled = [gr.update(visible=n == 0 or bool(str(t or "").strip())) for n, t in enumerate(texts)]
            return [*visibility(mode, rerank, *values[: len(toggles)]), *filled]

        root = gr.context.Context.root_block
        if root is not None:
            root.load(fn=on_load, inputs=[*sources, *boxes], outputs=[*targets, *boxes])

    def infotext_fields(self) -> list[tuple[Any, Callable[[dict[str, Any]], Any]]]:
        """Paste-back: every slot the infotext determines (the captions are not in it)."""
        return [
            (component, _pasted(slot))
            for slot, component in self.inputs.items()
            if self.specs[slot].name != "captions"
        ]

    def wire(self, captured: dict[str, Any], preview: Callable[..., Any], unload: Callable[[], str]) -> None:
        """Connect the buttons once the tab's own components exist (called when its output gallery is created)."""
        import gradio as gr

        self.unload_button.click(fn=lambda: status_html(unload()), inputs=[], outputs=[self.status])
        sources = [captured.get(f"{self.tab}_{name}") for name in PREVIEW_INPUTS]
        if not all(source is not None for source in sources):
            return
        slots = input_slots()
        boxes = [self.inputs[caption_slot(n)] for n in range(1, CAPTION_SLOTS + 1)]

        def run_preview(*values: Any) -> list[Any]:
            data = params_from_inputs(dict(zip(slots, values[: len(slots)])))
            images, captions, seed, message = preview(data, *values[len(slots) :])
            status = status_html(message)
            gallery = gr.update(value=images, visible=bool(images))
            if not images:  # nothing to edit: leave the settings as they are
                return [gallery, *[gr.update()] * (3 + len(boxes)), seed, status]
            shown = max(1, len(captions))
            box_updates = [
                gr.update(value=captions[n] if n < len(captions) else "", visible=n < shown)
                for n in range(len(boxes))
            ]
            # the captions' group shows with its filled boxes, not a round trip later (when the mode's change
            # event, which this "manual" fires, shows it too)
            return [gallery, "manual", True, gr.update(visible=True), *box_updates, seed, status]

        self.preview_button.click(
            fn=run_preview,
            inputs=[*self.script_inputs(), *sources],
            outputs=[
                self.gallery,
                self.inputs["mode"],
                self.inputs["enabled"],
                self.captions_group,
                *boxes,
                captured[f"{self.tab}_seed"],
                self.status,
            ],
        )

    def follow(self, generation_info: Any) -> None:
        """After every generation of this tab in this browser session, show its DNS images and captions, or clear
        them when DNP did not run (gradio 3 galleries have no change event; the generation-info box has)."""
        import gradio as gr

        def show(info: Any) -> tuple[Any, str]:
            view = views.tickets.take(views.ticket_of(info))
            if view is None:
                return gr.update(value=[], visible=False), status_html(NOT_RUN)
            return gr.update(value=view.images, visible=bool(view.images)), _caption_lines(view.captions)

        generation_info.change(fn=show, inputs=[generation_info], outputs=[self.gallery, self.status])


def _pasted(slot: str) -> Callable[[dict[str, Any]], Any]:
    def read(fields: dict[str, Any]) -> Any:
        try:
            params = infotext.params_from_infotext(fields)
        except DnpParamsError:
            return None
        if params is None:
            return False if slot == "enabled" else None
        return widget_values(params)[slot]

    return read

"""The DNP accordion: widgets built from the params model, one dict as the script's only input.

The widgets feed a `gr.State` holding the params dict, and that State is the script's single argument, so the UI
and the API (`"alwayson_scripts": {"DNP": {"args": [{...}]}}`) hand `process()` the same object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lib_dnp import infotext
from lib_dnp.params import DnpParams, DnpParamsError, params_dict
from lib_dnp.widgets import params_from_widgets, to_widget, widget_specs

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


def _component(gr: Any, spec: Any, elem_id: str) -> Any:
    common = {"label": spec.label, "value": spec.value, "elem_id": elem_id}
    if spec.kind == "checkbox":
        return gr.Checkbox(**common)
    if spec.kind == "radio":
        return gr.Radio(choices=list(spec.choices), **common)
    if spec.kind == "dropdown":
        return gr.Dropdown(choices=list(spec.choices), allow_custom_value=True, info=spec.info, **common)
    if spec.kind == "textbox":
        return gr.Textbox(lines=2, placeholder=spec.info, **common)
    return gr.Slider(minimum=spec.minimum, maximum=spec.maximum, step=spec.step, **common)


def _pasted(name: str) -> Callable[[dict[str, Any]], Any]:
    def read(fields: dict[str, Any]) -> Any:
        try:
            params = infotext.params_from_infotext(fields)
        except DnpParamsError:
            return None
        if params is None:
            return False if name == "enabled" else None
        return to_widget(name, getattr(params, name))

    return read


def _pasted_dict(fields: dict[str, Any]) -> dict[str, Any] | None:
    try:
        params = infotext.params_from_infotext(fields)
    except DnpParamsError:
        return None
    return params_dict(params if params is not None else DnpParams())


class Accordion:
    """The components of one tab's accordion that other events need."""

    def __init__(self, tab: str) -> None:
        import gradio as gr

        self.tab = tab
        self.widgets: dict[str, Any] = {}
        with gr.Accordion("DNP: diffusion-negative prompting", open=False, elem_id=f"dnp_{tab}_accordion"):
            for spec in widget_specs():
                self.widgets[spec.name] = _component(gr, spec, f"dnp_{tab}_{spec.name}")
            with gr.Row():
                self.preview_button = gr.Button("Preview DNS", elem_id=f"dnp_{tab}_preview")
                self.unload_button = gr.Button("Unload captioner", elem_id=f"dnp_{tab}_unload")
            self.gallery = gr.Gallery(
                label="DNS images (last generation or preview)", elem_id=f"dnp_{tab}_gallery", columns=4
            )
            self.status = gr.Markdown(elem_id=f"dnp_{tab}_status")
        self.state = gr.State(value=params_dict(DnpParams()))
        names = list(self.widgets)
        inputs = [self.widgets[name] for name in names]
        for widget in inputs:
            widget.change(
                fn=lambda *values: params_from_widgets(dict(zip(names, values))),
                inputs=inputs,
                outputs=[self.state],
            )

    def infotext_fields(self) -> list[tuple[Any, Callable[[dict[str, Any]], Any]]]:
        fields = [(widget, _pasted(name)) for name, widget in self.widgets.items()]
        fields.append((self.state, _pasted_dict))
        return fields

    def wire(self, captured: dict[str, Any], preview: Callable[..., Any], unload: Callable[[], str]) -> None:
        """Connect the buttons once the tab's own components exist (called when its output gallery is created)."""
        self.unload_button.click(fn=unload, inputs=[], outputs=[self.status])
        sources = [captured.get(f"{self.tab}_{name}") for name in PREVIEW_INPUTS]
        if all(source is not None for source in sources):
            self.preview_button.click(
                fn=preview,
                inputs=[self.state, *sources],
                outputs=[self.gallery, self.widgets["captions"], captured[f"{self.tab}_seed"], self.status],
            )

    def follow(self, generation_info: Any, last: Callable[[], Any]) -> None:
        """Show the last generation's DNS images and captions: the tab's hidden generation-info box changes after
        every generation (gradio 3 galleries have no change event)."""
        generation_info.change(fn=last, inputs=[], outputs=[self.gallery, self.status])

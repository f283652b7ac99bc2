"""Gradio components of the app whose values reach the handlers unchecked, so that the
handlers' own checks (``dpg.app.session``) answer bad API input with a message. (A module of
its own: Gradio inspects a component class's source file, which ``app.py`` loaded by path
does not give it.)"""

from __future__ import annotations

import gradio as gr


class SeedBox(gr.Number):
    """A seed box whose value reaches the handler as sent: Gradio's own check failed on a
    seed of "abc", "" or a list with an opaque "upstream Gradio app has raised an exception"
    (and rounded 3.5 silently); ``dpg.app.session.check_seed`` says what is wrong instead."""

    def preprocess(self, payload):
        return payload

    def get_block_name(self) -> str:  # the page draws it with Gradio's own Number
        return "number"

    def get_block_class(self) -> str:
        return "number"


class NumberSlider(gr.Slider):
    """A slider whose value reaches the handler as sent (``check_amounts`` checks it)."""

    def preprocess(self, payload):
        return payload

    def get_block_name(self) -> str:  # the page draws it with Gradio's own Slider
        return "slider"

    def get_block_class(self) -> str:
        return "slider"

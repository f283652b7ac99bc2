"""Gradio components of the app whose values reach the handlers unchecked, so that the
handlers' own checks (``dpg.app.session``) answer bad API input with a message. (A module of
its own: Gradio inspects a component class's source file, which ``app.py`` loaded by path
does not give it.)"""

from __future__ import annotations

import gradio as gr


class _AsSent:
    """Hands the page's value to the handler as sent, and has the page draw the Gradio
    component it derives from (a new class name would have no component on the page)."""

    def preprocess(self, payload):
        return payload

    def get_block_name(self) -> str:
        return next(c for c in type(self).__mro__ if c.__module__.startswith("gradio.components")).__name__.lower()

    get_block_class = get_block_name


class SeedBox(_AsSent, gr.Number):
    """A seed box: Gradio's own check failed on a seed of "abc", "" or a list with an opaque
    "upstream Gradio app has raised an exception" (and rounded 3.5 silently);
    ``dpg.app.session.check_seed`` says what is wrong instead."""


class NumberSlider(_AsSent, gr.Slider):
    """A slider whose value ``check_amounts`` (or the handler's own check) checks."""

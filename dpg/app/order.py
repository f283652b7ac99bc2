"""Which of a visitor's pictures may still be shown: a slider's preview picture that finishes
after a later event of the same visitor started is dropped (issue 21).

The queue runs events one per core, so two events of one visitor can run at once and finish
in either order. While a slider moves, its ``input`` events draw previews (``dpg.preview``,
about a quarter of the full decoder's time); its ``release`` draws the full picture. A
preview still running when the release (or a dice, an upload) started would otherwise land
last and leave the drag's end, or another person, drawn by the preview. Full pictures are
never dropped: their order is the queue's, as before previews existed.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import threading
import typing
from collections import OrderedDict

import gradio as gr


class EventOrder:
    """A ticket per event start, and each visitor's last (``visitors`` most recent kept)."""

    def __init__(self, visitors: int = 4096):
        self._lock = threading.Lock()
        self._tickets = itertools.count(1)
        self._last: OrderedDict[str, int] = OrderedDict()  # visitor -> ticket of its last event
        self._visitors = visitors

    def start(self, visitor: str | None) -> int:
        """An event of ``visitor`` (a session hash; None: an API call without one) starts."""
        with self._lock:
            ticket = next(self._tickets)
            if visitor is not None:
                self._last[visitor] = ticket
                self._last.move_to_end(visitor)
                while len(self._last) > self._visitors:
                    self._last.popitem(last=False)
            return ticket

    def superseded(self, visitor: str | None, ticket: int) -> bool:
        """Whether an event of ``visitor`` started after the one holding ``ticket``."""
        with self._lock:
            return visitor is not None and self._last.get(visitor, 0) > ticket


def ordered(fn, order: EventOrder, n_outputs: int, preview: bool = False):
    """``fn`` (an event function) whose start ``order`` records; with ``preview``, whose
    outputs are all skipped when a later event of the visitor started meanwhile. The
    visitor comes from the ``gr.Request`` that Gradio passes as a first argument, which the
    returned function's signature asks for (Gradio reads it, and ``fn``'s own special
    arguments such as ``gr.SelectData``, from ``__signature__`` and the annotations)."""

    @functools.wraps(fn)
    def run(request: gr.Request, *args):
        visitor = getattr(request, "session_hash", None)
        ticket = order.start(visitor)
        out = fn(*args)
        if preview and order.superseded(visitor, ticket):
            return [gr.skip()] * n_outputs
        return out

    sig = inspect.signature(fn)
    first = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request)
    run.__signature__ = sig.replace(parameters=[first, *sig.parameters.values()])
    run.__annotations__ = {"request": gr.Request, **typing.get_type_hints(fn)}
    del run.__wrapped__  # the signature above, not fn's, is this function's
    return run

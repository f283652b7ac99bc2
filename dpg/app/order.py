"""Which of a visitor's pictures may still be shown: a slider's preview picture that finishes
after a later event of the same visitor started is dropped (issue 21).

The queue runs events one per core, so two events of one visitor can run at once and finish
in either order. While a slider moves, its ``input`` events draw previews (``dpg.preview``,
about a quarter of the full decoder's time); its ``release`` draws the full picture. A
preview still running when the release (or a dice, an upload) started would otherwise land
last and leave the drag's end, or another person, drawn by the preview. Full pictures are
never dropped: their order is the queue's, as before previews existed.

A preview can also *start* after the release: a slider's events run one at a time each
(``trigger_mode="always_last"``), so the last key press's preview waits for the one before it
while the key-up's full picture, another event, may already have started on the other core.
Started later, it is not superseded, and it would land last. So an event may say what it
draws (``draws``: a key of its inputs, the session aside); a preview that draws what the
visitor's last full picture drew is dropped, at its start (no decoder pass) or its end.
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
        self._full: dict[str, typing.Hashable] = {}  # visitor -> what its last full picture drew
        self._visitors = visitors

    def start(self, visitor: str | None, full: bool = True, draws: typing.Hashable = None) -> int:
        """An event of ``visitor`` (a session hash; None: an API call without one) starts; a
        ``full`` picture's records what it draws (``draws``; None: not said)."""
        with self._lock:
            ticket = next(self._tickets)
            if visitor is not None:
                self._last[visitor] = ticket
                self._last.move_to_end(visitor)
                if full:
                    self._full[visitor] = draws
                while len(self._last) > self._visitors:
                    self._full.pop(self._last.popitem(last=False)[0], None)
            return ticket

    def superseded(self, visitor: str | None, ticket: int) -> bool:
        """Whether an event of ``visitor`` started after the one holding ``ticket``."""
        with self._lock:
            return visitor is not None and self._last.get(visitor, 0) > ticket

    def drawn_in_full(self, visitor: str | None, draws: typing.Hashable) -> bool:
        """Whether ``visitor``'s last full picture drew ``draws`` (None: never)."""
        with self._lock:
            return visitor is not None and draws is not None and self._full.get(visitor) == draws

    def shown(self, visitor: str | None) -> None:
        """A preview of ``visitor``'s was shown: the page no longer shows its last full
        picture, so a preview that draws that again is shown too (a slider dragged back)."""
        with self._lock:
            self._full.pop(visitor, None)


def ordered(fn, order: EventOrder, n_outputs: int, preview: bool = False, draws=None):
    """``fn`` (an event function) whose start ``order`` records; with ``preview``, whose
    outputs are all skipped when a later event of the visitor started meanwhile, or when
    the visitor's last full picture drew the same: ``draws(args)`` (``args``: ``fn``'s
    inputs) gives what an event draws as a hashable key, the same for a preview and the
    full picture of one slider position (None: events are compared by start only). The
    visitor comes from the ``gr.Request`` that Gradio passes as a first argument, which the
    returned function's signature asks for (Gradio reads it, and ``fn``'s own special
    arguments such as ``gr.SelectData``, from ``__signature__`` and the annotations)."""

    @functools.wraps(fn)
    def run(request: gr.Request, *args):
        visitor = getattr(request, "session_hash", None)
        key = draws(args) if draws is not None else None
        if preview and order.drawn_in_full(visitor, key):
            return [gr.skip()] * n_outputs  # started after its own full picture: nothing to add
        ticket = order.start(visitor, full=not preview, draws=key)
        out = fn(*args)
        if preview:
            if order.superseded(visitor, ticket) or order.drawn_in_full(visitor, key):
                return [gr.skip()] * n_outputs
            order.shown(visitor)
        return out

    sig = inspect.signature(fn)
    first = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request)
    run.__signature__ = sig.replace(parameters=[first, *sig.parameters.values()])
    run.__annotations__ = {"request": gr.Request, **typing.get_type_hints(fn)}
    del run.__wrapped__  # the signature above, not fn's, is this function's
    return run

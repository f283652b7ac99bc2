"""The Gradio editor's logic, without Gradio: plain functions that ``app.py`` wires to the page
and that tests call directly.

* ``dpg.app.session``: ``Session``, one browser session's edits (seeds, slider values,
  the person's factors as small lists, the photos' encodings), and ``render``;
* ``dpg.app.handlers``: what each control does (sample a factor, take factors from a second
  photo, swap body parts, move or hide a joint, interpolate), ``Session -> Session``;
* ``dpg.app.photos``: an uploaded photo -> the person in it (``PersonFinder``), with a clear
  ``UserError`` for files that are not photos of one person; the bundled example photos;
* ``dpg.app.views``: what the page shows (nearest-neighbour upscaling, skeleton overlays, the
  pose editor's value, GIFs);
* ``pose_editor.js`` / ``pose_editor.css``: the draggable skeleton (a ``gr.HTML`` component).

The model is never part of a session: the one ``PersonGenerator`` is passed to every handler.
"""

"""dpg's editor: a Gradio page over ``dpg.inference.PersonGenerator``.

    python app.py [--checkpoint PATH_OR_HUB_ID] [--device cpu|cuda] [--port 7860]

Four tabs: **Sample** (per factor a seed, a dice and three sliders along the factor's main
directions; locks and "sample all"), **Edit a photo** (the person found in an upload or an
example; take the background, clothing or pose of a second photo; swap body parts), **Edit
the pose** (drag joints on the picture, hide or show them, reset, random pose) and
**Interpolate** (between two seeds, or two photos by inversion; frames and a GIF).

This file only wires the page: what each control does lives in ``dpg.app.handlers`` (plain
functions the tests call) and the session is ``dpg.app.session.Session`` (``gr.State``, one
per visitor). The model is the one ``PersonGenerator`` passed to ``build_app``; without
weights the app still starts and says what is missing. Nothing is downloaded at start: the
weights are bundled (or a local ``--checkpoint``) and mediapipe's models ship in its wheel.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
from pathlib import Path

import gradio as gr

from dpg.app import handlers as h
from dpg.app.components import NumberSlider, SeedBox
from dpg.app.order import EventOrder, ordered
from dpg.app.photos import PersonFinder, example_photos
from dpg.app.session import (
    DEFAULT_SEEDS,
    FACTOR_LABELS,
    MAX_SEED,
    SLIDER_RANGE,
    SLIDERS,
    Session,
    describe,
    materialize,
    render,
)
from dpg.app.views import (
    DISPLAY_HEIGHT,
    display_scale,
    editor_value,
    joint_label,
    overlay,
    picture_file,
    visible_joints,
    write_gif,
    write_png,
)
from dpg.argtypes import count
from dpg.directions import directions_for
from dpg.errors import UserError
from dpg.inversion import MAX_REFINE
from dpg.keypoints import BODY_PARTS, JOINTS, LIMB_COLOURS, LIMBS

log = logging.getLogger("dpg.app")
STATIC = Path(h.__file__).resolve().parent
TITLE = "dpg: Disentangled Person Image Generation"
MAX_UPLOAD = "20mb"  # photos larger than this are refused before they reach a handler
CRASH = "Something went wrong on the server (it has been logged). Try again, or try another input."
FACTOR_TITLES = {"fg": "Foreground: body and clothing", "bg": "Background", "pose": "Pose"}
# The pictures travel at the model's size (128x64: a few kB) and the browser enlarges them,
# each model pixel a crisp square: cheaper than sending enlarged PNGs, and a download is the
# model's true output.
CSS = """
#person img, #frames img { image-rendering: pixelated; }
#person img { width: 100%; height: 100%; object-fit: contain; }
#frames .thumbnail-item { aspect-ratio: 1 / 2; height: auto; }
#frames .grid-wrap { height: auto !important; min-height: 0; }
/* Phones: the columns stack, and the picture stays at the top of the screen while the
   controls below it are used (it scrolled 1,000-1,900 px away). */
@media (max-width: 700px) {
  #picture-col { position: sticky !important; top: 0; z-index: 50; background: var(--body-background-fill); padding-bottom: 4px; }
  #person { height: 30vh !important; }
  #person .image-container, #person .image-frame { height: 100% !important; }
}
"""
# Unscoped CSS (Gradio prefixes ``css`` with its container's class, so a rule cannot reach the
# container itself): its ``overflow: hidden`` makes it the scroll box of a sticky element
# inside, which then never sticks; ``clip`` hides the same without being one.
HEAD = "<style>@media (max-width: 700px) { .gradio-container { overflow: clip !important; } }</style>" + (
    # A slider moved by the keyboard (arrows, Page Up/Down, Home, End) sends "input" events but
    # no "release" in Gradio (a pointer-up or the number box's blur): with a preview decoder the
    # picture would stay the preview's. Its key-up ends a keyboard move as a pointer-up ends a drag
    # (a bubbling one: Svelte listens for it at the page's root).
    "<script>document.addEventListener('keyup', (e) => { const t = e.target;"
    " if (t instanceof HTMLInputElement && t.type === 'range') t.dispatchEvent(new PointerEvent('pointerup', { bubbles: true })); });</script>"
)
INTRO = f"""# {TITLE}
A person image as three factors: **foreground**, **background** and **pose** (Ma et al.,
CVPR 2018). Sample each from its own seed, move it along its main directions, take factors
from photos, drag the skeleton, and interpolate."""


def guarded(fn, n_outputs: int, status_at: int = -1):
    """An event function that never lets an exception reach the page: a ``UserError`` or a
    crash (logged with its traceback, server-side only) becomes the status line's message
    (output ``status_at``); the other outputs, the session included, stay as they were."""

    @functools.wraps(fn)
    def run(*args):
        try:
            return fn(*args)
        except UserError as err:
            message = page_message(err)
        except Exception:
            log.exception("event %s failed", fn.__name__)
            message = CRASH
        # The status line under the picture, not a pop-up: pop-ups stacked up and covered the
        # "Person found" panel.
        out = [gr.skip()] * n_outputs
        out[status_at] = f"⚠️ {message}"
        return out

    return run


def page_message(err: UserError) -> str:
    """A ``UserError`` as the page says it: capitalised, unless it starts with a file name."""
    message = str(err)
    if message.split(" ", 1)[0].isalpha():  # "the seed must..." but not "notes.jpg is..."
        message = message[0].upper() + message[1:]
    return message


def sample_tab(factors, named: dict) -> dict:
    """Per factor: a seed, its dice, the principal sliders and the named ones (``named``:
    ``dpg.directions`` by factor, where the model has them); locks and "sample all"."""
    ui = {"seeds": {}, "dice": {}, "sliders": {}, "named": {}}
    for f in factors:
        with gr.Group():
            gr.Markdown(f"**{FACTOR_TITLES[f]}**", padding=True)
            with gr.Row():
                ui["seeds"][f] = SeedBox(
                    DEFAULT_SEEDS[f], label="Seed", precision=0, minimum=0, maximum=MAX_SEED, elem_id=f"{f}-seed", min_width=100
                )
                ui["dice"][f] = gr.Button("🎲 New seed", elem_id=f"{f}-dice", scale=0, min_width=120)
            with gr.Row():
                ui["sliders"][f] = [
                    NumberSlider(
                        -SLIDER_RANGE, SLIDER_RANGE, 0.0, step=0.05, label=f"Direction {i + 1}", elem_id=f"{f}-slider-{i}", min_width=120
                    )
                    for i in range(SLIDERS)
                ]
            if named.get(f):
                with gr.Row():
                    ui["named"][f] = [
                        NumberSlider(
                            -SLIDER_RANGE,
                            SLIDER_RANGE,
                            0.0,
                            step=0.05,
                            label=d.name,
                            elem_id=f"{f}-named-{i}",
                            min_width=120,
                            info=f"from {d.source}" if d.source else None,
                        )
                        for i, d in enumerate(named[f])
                    ]
    with gr.Row():
        ui["locks"] = gr.CheckboxGroup([FACTOR_LABELS[f] for f in factors], label="Lock (keep when sampling all)", elem_id="locks")
        ui["sample_all"] = gr.Button("🎲 Sample all", variant="primary", elem_id="sample-all", scale=0, min_width=160)
    return ui


def photo_tab(factors, examples: list[str], fit: bool = False) -> dict:
    """The photo to edit (upload or example), the second photo, and what to take from it;
    ``fit``: the "fit to the photo" box's first value (the host's ``--refine``)."""
    ui = {}
    with gr.Row():
        with gr.Column():
            ui["photo"] = gr.File(label="Photo of one person", elem_id="photo")
            ui["fit"] = gr.Checkbox(
                label="Fit the person to the photo",
                info="truer colours; 1-5 s more for each photo on a CPU",
                value=fit,
                elem_id="fit",
            )
            ui["examples"] = gr.Gallery(
                examples,
                label="Or click an example",
                columns=4,
                height=130,
                allow_preview=False,
                object_fit="cover",
                elem_id="examples",
                visible=bool(examples),
            )
        ui["found"] = gr.Image(label="Person found", format="png", interactive=False, elem_id="found")
    ui["use_photo"] = gr.Button("Back to the photo's person", elem_id="use-photo")
    with gr.Row():
        ui["other"] = gr.File(label="Second photo", elem_id="other")
        ui["other_found"] = gr.Image(label="Person found", format="png", interactive=False, elem_id="other-found")
    labels = [FACTOR_LABELS[f] for f in factors]
    with gr.Row():
        ui["take_what"] = gr.CheckboxGroup(labels, value=labels[1:2], label="Take from the second photo", elem_id="take-what")
        ui["take"] = gr.Button("Take", elem_id="take", scale=0, min_width=100)
    with gr.Row():
        parts = [h.part_label(p) for p in BODY_PARTS]
        ui["parts"] = gr.CheckboxGroup(parts, value=["upper body"], label="Swap body parts with the second photo", elem_id="parts")
        ui["swap"] = gr.Button("Swap", elem_id="swap", scale=0, min_width=100)
    return ui


def pose_tab() -> dict:
    """The draggable skeleton (``dpg/app/pose_editor.js``), joints shown, reset, random pose."""
    gr.Markdown("Drag a joint to move it (or focus it and use the arrow keys); the person re-renders in the new pose.")
    ui = {}
    with gr.Row():
        ui["editor"] = gr.HTML(
            None,
            html_template='<div class="dpg-pose"></div>',
            css_template=(STATIC / "pose_editor.css").read_text(),
            js_on_load=(STATIC / "pose_editor.js").read_text(),
            apply_default_css=False,
            elem_id="pose-editor",
            limbs=[list(b) for b in LIMBS],
            colours=[f"rgb{c}" for c in LIMB_COLOURS],
            joints=[joint_label(j) for j in range(18)],
        )
        with gr.Column():
            ui["joints"] = gr.CheckboxGroup([joint_label(j) for j in range(len(JOINTS))], label="Joints shown", elem_id="joints")
            with gr.Row():
                ui["reset"] = gr.Button("Reset pose", elem_id="reset-pose")
                ui["random_pose"] = gr.Button("🎲 Random pose", elem_id="random-pose")
    return ui


def interpolate_tab(factors) -> dict:
    """Between two seeds or the two photos, for the chosen factors: frames and a GIF."""
    ui = {}
    ui["mode"] = gr.Radio(
        ["two seeds", "two photos"],
        value="two seeds",
        label="Between",
        info="Two photos: the photo and the second photo of the photo tab, inverted to noise (a few seconds)",
    )
    with gr.Row():
        ui["seed_a"] = SeedBox(0, label="Seed A", precision=0, minimum=0, maximum=MAX_SEED, elem_id="seed-a")
        ui["seed_b"] = SeedBox(1, label="Seed B", precision=0, minimum=0, maximum=MAX_SEED, elem_id="seed-b")
    labels = [FACTOR_LABELS[f] for f in factors]
    ui["chosen"] = gr.CheckboxGroup(labels, value=labels, label="Factors that change", elem_id="interp-factors")
    with gr.Row():
        ui["steps"] = NumberSlider(2, h.MAX_STEPS, 8, step=1, label="Steps", elem_id="steps")
        ui["method"] = gr.Radio(["slerp", "lerp"], value="slerp", label="Path in noise space")
    ui["go"] = gr.Button("Interpolate", variant="primary", elem_id="interpolate-go")
    ui["frames"] = gr.Gallery(label="Frames", columns=8, height="auto", object_fit="contain", format="png", elem_id="frames")
    ui["gif"] = gr.File(label="GIF", elem_id="gif")
    return ui


def named_directions(gen) -> dict:
    """The model's named slider directions (``dpg.directions``), or none with a log line when
    its file was made for another model: the page still works with the principal sliders."""
    try:
        return directions_for(gen)
    except UserError as err:
        log.warning("no named sliders: %s", err)
        return {}


def build_app(gen, finder: PersonFinder | None = None, named: dict | None = None) -> gr.Blocks:
    """The editor's page for a ``PersonGenerator``. ``finder`` finds people in photos
    (default: a ``PersonFinder`` with mediapipe, started on the first upload); ``named`` the
    named slider directions by factor (default: the file beside the model's checkpoint)."""
    finder = finder or PersonFinder()
    named = named_directions(gen) if named is None else named
    k = display_scale(gen.height)
    factors = gen.factors
    examples = example_photos()

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(900, 3600)) as demo:
        state = gr.State(Session())
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=260, elem_id="picture-col"):
                image = gr.Image(label="Person", format="png", interactive=False, height=DISPLAY_HEIGHT + 16, elem_id="person", buttons=[])
                caption = gr.Markdown(elem_id="caption")
                status = gr.Markdown(elem_id="status")
                with gr.Row():
                    model_only = gr.Checkbox(label="Model output only (128x64, as in the paper)", value=False, elem_id="model-only")
                    # the download is the edit at the photo's pixels, not the page's small copy
                    full = gr.Button("Download", elem_id="full-res", size="sm", scale=0, min_width=120)
                full_file = gr.File(label="The picture at the photo's resolution", interactive=False, visible=False, elem_id="full-file")
            with gr.Column(scale=5), gr.Tabs():
                with gr.Tab("Sample", id="sample"):
                    ui = sample_tab(factors, named)
                with gr.Tab("Edit a photo", id="photo"):
                    ui |= photo_tab(factors, examples, finder.fit_by_default)
                with gr.Tab("Edit the pose", id="pose"):
                    ui |= pose_tab()
                with gr.Tab("Interpolate", id="interpolate"):
                    ui |= interpolate_tab(factors)
        seeds, sliders = ui["seeds"], ui["sliders"]
        view = [state, image, ui["editor"], ui["joints"], caption, status]

        def show(s: Session, message: str = "") -> list:
            """The session as the page shows it: the ``view`` outputs."""
            person = render(gen, s)
            picture = h.picture(gen, finder, s, model_image=person)  # the edit on the photo, when there is one
            return [s, picture_file(picture), editor_value(person, s.keypoints), visible_joints(s.keypoints), describe(gen, s), message]

        def drawn(s: Session) -> list:
            """A moving slider's outputs (picture, status): the preview decoder's picture of
            the session; the session itself, the pose editor and the caption wait for the
            slider's release (its full picture), so a preview changes nothing else."""
            person = render(gen, s, preview=True)
            return [picture_file(h.picture(gen, finder, s, model_image=person)), gr.skip()]

        order = EventOrder()

        def slider_key(kind: str, f: str):
            """What a slider's event draws, as ``EventOrder``'s key: its preview and its full
            picture take the same inputs, the session and then what says the picture (the
            seed and amounts, or the named amounts)."""
            return lambda args: (kind, f, *args[1:])

        def wire(triggers, fn, inputs, outputs, preview=False, draws=None, **kw):
            """``fn`` on ``triggers``, guarded (messages to ``status``). By default an event
            of the "render" group (one decoder pass; they share the queue's limit) that
            shows no progress overlay, so the picture follows a slider without flicker.
            Every event's start is recorded (``EventOrder``); a ``preview`` event's outputs
            are dropped when a later event of the visitor started before it finished, or
            when its last full picture drew the same (``draws``: a key of the inputs)."""
            kw = {"show_progress": "hidden", "concurrency_id": "render", **kw}
            fn = ordered(guarded(fn, len(outputs), outputs.index(status)), order, len(outputs), preview, draws)
            return gr.on(triggers, fn, inputs, outputs, **kw) if isinstance(triggers, list) else triggers(fn, inputs, outputs, **kw)

        # -- Sample: a factor's seed box and sliders are one event, its dice another.
        wire(demo.load, lambda s: show(h.start(gen, s)), [state], view, api_name="start")
        for f in factors:

            def set_factor(s, seed, *amounts, f=f):
                s = h.set_factor(gen, s, f, seed, amounts)
                # The seed box shows the seed of the picture, whichever event ran last (a blur
                # with a typed seed could run after the dice); a slider's number box shows the
                # value used when it was clipped (a typed 10 stayed beside a slider at 3).
                clipped = [v if v != a else gr.skip() for v, a in zip(s.offsets[f], amounts)]
                reset = [gr.skip() if s.named.get(f) else 0.0 for _ in ui["named"].get(f, [])]  # a new person: at 0
                *shown, message = show(s)  # the status line stays the last output, as in every event
                return [*shown, s.seeds[f], *clipped, *reset, message]

            def set_named(s, *amounts, f=f):
                return show(h.set_named(gen, named, s, f, amounts))

            def drag_factor(s, seed, *amounts, f=f):
                return drawn(h.set_factor(gen, s, f, seed, amounts))

            def drag_named(s, *amounts, f=f):
                return drawn(h.set_named(gen, named, s, f, amounts))

            def roll(s, *, f=f):
                s = h.roll(gen, s, f)
                return [*show(s), s.seeds[f], *[0.0] * len(ui["named"].get(f, []))]  # named sliders back at 0

            # With a preview decoder (dpg.preview), a moving slider ("input") is drawn by it and
            # its release by the full decoder; without one, every move by the full decoder.
            moved = "release" if gen.preview is not None else "input"
            changed = [seeds[f].submit, seeds[f].blur] + [getattr(sl, moved) for sl in sliders[f]]

            wire(
                changed,
                set_factor,
                [state, seeds[f], *sliders[f]],
                [*view[:-1], seeds[f], *sliders[f], *ui["named"].get(f, []), status],
                api_name=f"set_{f}",
                trigger_mode="always_last",
                draws=slider_key("sliders", f),
            )
            if gen.preview is not None:
                wire(
                    [sl.input for sl in sliders[f]],
                    drag_factor,
                    [state, seeds[f], *sliders[f]],
                    [image, status],
                    api_name=f"drag_{f}",
                    trigger_mode="always_last",
                    preview=True,
                    draws=slider_key("sliders", f),
                )
            if f in ui["named"]:
                wire(
                    [getattr(sl, moved) for sl in ui["named"][f]],
                    set_named,
                    [state, *ui["named"][f]],
                    view,
                    api_name=f"named_{f}",
                    trigger_mode="always_last",
                    draws=slider_key("named", f),
                )
                if gen.preview is not None:
                    wire(
                        [sl.input for sl in ui["named"][f]],
                        drag_named,
                        [state, *ui["named"][f]],
                        [image, status],
                        api_name=f"drag_named_{f}",
                        trigger_mode="always_last",
                        preview=True,
                        draws=slider_key("named", f),
                    )
            wire(ui["dice"][f].click, roll, [state], [*view, seeds[f], *ui["named"].get(f, [])], api_name=f"roll_{f}")

        def sample_all(s, locked):
            s = h.sample_all(gen, s, locked)
            locked_named = {f for f in factors if s.named.get(f)}  # locked factors keep theirs
            zeros = [gr.skip() if f in locked_named else 0.0 for f in factors for _ in ui["named"].get(f, [])]
            return [*show(s), *(s.seeds[f] for f in factors), *zeros]

        wire(model_only.input, lambda s, value: show(h.set_model_only(gen, s, value)), [state, model_only], view, api_name="model_only")

        def full_resolution(s):
            picture = h.picture(gen, finder, materialize(gen, s), full=True)
            return gr.update(
                value=write_png(picture), visible=True
            ), f"The picture at {picture.shape[1]}x{picture.shape[0]} pixels: download it below."

        wire(
            full.click,
            full_resolution,
            [state],
            [full_file, status],
            api_name="full_resolution",
            concurrency_id="photo",
            show_progress="minimal",
        )

        wire(
            ui["sample_all"].click,
            sample_all,
            [state, ui["locks"]],
            [*view, *seeds.values(), *(sl for f in factors for sl in ui["named"].get(f, []))],
            api_name="sample_all",
        )

        # -- Edit a photo. Finding a person takes ~0.1 s (1 s the first time): a queue of its own.
        def load_photo(s, photo, fit, file_value=gr.skip()):
            """Outputs: the view, the "Person found" panel, the file box."""
            if photo is None:  # the file box was cleared
                return [gr.skip()] * (len(view) + 2)
            try:
                s, person = h.load_photo(gen, finder, s, photo, "photo", fit)
            except UserError as err:  # the slot is emptied: the photo before is not used silently
                s = h.drop_photo(gen, materialize(gen, s), "photo")
                return [*show(s, f"⚠️ {page_message(err)}"), None, None]
            n = int((person.keypoints[:, 2] > 0).sum())
            fitted = f", fitted to the photo ({person.fitted} steps)" if person.fitted else ""
            message = f"Found the person in {person.name} ({n} of 18 joints{fitted})."
            return [*show(s, message), picture_file(overlay(person.crop, person.keypoints, k)), file_value]

        def load_other(s, photo, fit):
            """Outputs: the session, the second "Person found" panel, the status, the file box."""
            if photo is None:
                return [gr.skip()] * 4
            try:
                s, person = h.load_photo(gen, finder, s, photo, "other", fit)
            except UserError as err:
                s = h.drop_photo(gen, materialize(gen, s), "other")
                return [s, None, f"⚠️ {page_message(err)} (no second photo is in use now)", None]
            message = f"Second photo: found the person in {person.name}. Take factors or swap parts below."
            return [s, picture_file(overlay(person.crop, person.keypoints, k)), message, gr.skip()]

        def load_example(s, fit, evt: gr.SelectData):
            return load_photo(s, examples[evt.index], fit, examples[evt.index])

        def set_fit(s, fit):
            """The "fit to the photo" box: the photos loaded are encoded again, fitted or not."""
            s, redone, forgotten = h.set_fit(gen, finder, s, fit)
            what = "fitted to the photo" if fit else "as the encoders see them (not fitted)"
            message = f"{' and '.join(redone)}: {what}." if redone else ""
            if forgotten:
                message += f" ⚠️ {' and '.join(forgotten)} is no longer kept on the server: upload it again."
            return show(s, message.strip())

        # as many photo events at once as the finder has mediapipe graphs (one per core)
        slow = {"concurrency_id": "photo", "concurrency_limit": finder.workers, "show_progress": "minimal"}
        wire(
            ui["photo"].upload,
            load_photo,
            [state, ui["photo"], ui["fit"]],
            [*view, ui["found"], ui["photo"]],
            api_name="load_photo",
            **slow,
        )
        wire(
            ui["other"].upload,
            load_other,
            [state, ui["other"], ui["fit"]],
            [state, ui["other_found"], status, ui["other"]],
            api_name="load_other",
            **slow,
        )
        wire(
            ui["examples"].select,
            load_example,
            [state, ui["fit"]],
            [*view, ui["found"], ui["photo"]],
            api_visibility="undocumented",
            **slow,
        )
        wire(ui["fit"].input, set_fit, [state, ui["fit"]], view, api_name="set_fit", **slow)
        wire(ui["use_photo"].click, lambda s: show(h.use_photo(gen, s)), [state], view, api_name="use_photo")
        wire(ui["take"].click, lambda s, factors: show(h.take_from_other(gen, s, factors)), [state, ui["take_what"]], view, api_name="take")
        wire(ui["swap"].click, lambda s, parts: show(h.swap_parts(gen, s, parts)), [state, ui["parts"]], view, api_name="swap_parts")

        # -- Edit the pose. The editor's "drag" event carries its value (the new keypoints).
        def move_joints(s, editor):
            s = h.move_joints(gen, s, editor)
            return show(s, h.pose_note(s.keypoints))  # a pose the model cannot follow says so

        wire(ui["editor"].drag, move_joints, [state, ui["editor"]], view, api_name="move_joints", trigger_mode="always_last")
        wire(
            ui["joints"].input,
            lambda s, joints: show(h.set_visible_joints(gen, s, joints)),
            [state, ui["joints"]],
            view,
            api_name="set_joints",
            trigger_mode="always_last",
        )
        wire(ui["reset"].click, lambda s: show(h.reset_pose(gen, s)), [state], view, api_name="reset_pose")

        def random_pose(s):
            s = h.random_pose(gen, s)
            return [*show(s), s.seeds["pose"], *[0.0] * (SLIDERS + len(ui["named"].get("pose", [])))]

        wire(
            ui["random_pose"].click,
            random_pose,
            [state],
            [*view, seeds["pose"], *sliders["pose"], *ui["named"].get("pose", [])],
            api_name="random_pose",
        )

        # -- Interpolate. Inverting two photos takes seconds: a queue of its own.
        def interpolate(s, between, seed_a, seed_b, factors, steps, method):
            if between == "two photos":
                s, out, residual = h.interpolate_photos(gen, s, factors, steps, method)
                message = h.describe_residual(residual)
            else:
                out, message = h.interpolate_seeds(gen, seed_a, seed_b, factors, steps, method), ""
            return [s, [picture_file(f) for f in out], write_gif(out, k), message]

        inputs = [state, ui["mode"], ui["seed_a"], ui["seed_b"], ui["chosen"], ui["steps"], ui["method"]]
        wire(
            ui["go"].click,
            interpolate,
            inputs,
            [state, ui["frames"], ui["gif"], status],
            api_name="interpolate",
            concurrency_id="interpolate",
            concurrency_limit=1,
            show_progress="full",
        )
    return demo


def build_missing_app(message: str) -> gr.Blocks:
    """The page shown when there are no weights to load: what is missing and what to do."""
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {TITLE}\n\n## The model is missing\n\n{message}.\n\n"
            "Start the app with `python app.py --checkpoint PATH.safetensors` (or a Hugging Face Hub "
            "repo id), or put the trained weights at `assets/dpg-demo.safetensors`.",
            elem_id="missing",
        )
    return demo


def load_app(checkpoint=None, device=None, concurrency: int | None = None, threads: int | None = None, refine: int = 0) -> gr.Blocks:
    """Load the weights and build the page (queued), or the "model is missing" page.

    On a CPU, events run ``concurrency`` at a time (default: one per core, at most 4) with
    ``threads`` torch threads each (default 1, set for the whole process). Single-threaded
    events degrade gracefully on a busy machine: on this shared 2-core CPU a 30 ms
    two-threaded decode took 0.1 to 1 s whenever other work ran (each op waits for its
    slowest thread), while a single-threaded one stayed at about 60 ms. ``refine``: above 0,
    "Fit the person to the photo" starts ticked and fits with this many steps
    (``PersonGenerator.encode``); 0, it starts unticked (``PersonFinder``).
    """
    import torch

    from dpg.inference import PersonGenerator

    try:
        gen = PersonGenerator.from_checkpoint(checkpoint, device)
    except UserError as err:
        log.error("no model: %s", err)
        return build_missing_app(str(err)).queue()
    if gen.device.type == "cpu":
        torch.set_num_threads(threads or 1)
        concurrency = concurrency or min(os.cpu_count() or 1, 4)
    else:
        concurrency = concurrency or 4
    for f in gen.factors:  # the sliders' directions: computed once, before the first visitor
        gen.directions(f, SLIDERS)
    log.info("model %s on %s, %d event(s) at a time", getattr(gen, "checkpoint", "?"), gen.device, concurrency)
    return build_app(gen, PersonFinder(refine=refine)).queue(default_concurrency_limit=concurrency, max_size=64)


def launch_options(max_file_size: str = MAX_UPLOAD) -> dict:
    """What ``demo.launch`` needs besides the address: the upload limit, the theme (system
    fonts: the default theme fetches web fonts, and the app must work offline), the page's
    CSS, no server-side rendering (no Node process), no tracebacks in the page, and no run
    history (it would keep every slider event, pictures included, in the browser)."""
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    return {
        "max_file_size": max_file_size,
        "theme": theme,
        "css": CSS,
        "head": HEAD,
        "ssr_mode": False,
        "show_error": False,
        "run_history": False,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--checkpoint",
        default=None,
        help="weights: a .safetensors path, a Hub repo id, or a bundled model by name: real (the default) or procedural",
    )
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    p.add_argument("--host", default=None, help="address to serve on (default: 127.0.0.1, or $GRADIO_SERVER_NAME)")
    p.add_argument("--port", type=int, default=None, help="port (default: 7860, or $GRADIO_SERVER_PORT)")
    p.add_argument("--concurrency", type=int, default=None, help="events run at once (default: one per CPU core up to 4, or 4 on a GPU)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per event on a CPU (default: 1)")
    p.add_argument("--max-file-size", default=MAX_UPLOAD, help=f"largest upload (default: {MAX_UPLOAD})")
    p.add_argument(
        "--refine",
        type=count(0, MAX_REFINE),
        default=0,
        help='tick "Fit the person to the photo" for every visitor, with this many steps: truer colours '
        "(held-out pedestrians: 3.0 -> 2.3 CIELAB units at 25), 1-5 s more an upload on 2 CPU cores "
        "(default 0: the box starts unticked and fits 25 steps when a visitor ticks it)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    demo = load_app(args.checkpoint, args.device, args.concurrency, args.threads, args.refine)
    demo.launch(server_name=args.host, server_port=args.port, **launch_options(args.max_file_size))


if __name__ == "__main__":
    main()

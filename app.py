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
from pathlib import Path

import gradio as gr

from dpg.app import handlers as h
from dpg.app.photos import PersonFinder, example_photos
from dpg.app.session import (
    DEFAULT_SEEDS,
    FACTOR_LABELS,
    MAX_SEED,
    SLIDER_RANGE,
    SLIDERS,
    Session,
    describe,
    render,
)
from dpg.app.views import (
    display_scale,
    editor_value,
    joint_label,
    overlay,
    upscale,
    visible_joints,
    write_gif,
)
from dpg.errors import UserError
from dpg.keypoints import _LIMB_COLOURS, BODY_PARTS, JOINTS, LIMBS

log = logging.getLogger("dpg.app")
STATIC = Path(h.__file__).resolve().parent
TITLE = "dpg: Disentangled Person Image Generation"
CRASH = "Something went wrong on the server (it has been logged). Try again, or try another input."
FACTOR_TITLES = {"fg": "Foreground: body and clothing", "bg": "Background", "pose": "Pose"}
INTRO = f"""# {TITLE}
A person image as three factors: **foreground**, **background** and **pose** (Ma et al.,
CVPR 2018). Sample each from its own seed, move it along its main directions, take factors
from photos, drag the skeleton, and interpolate."""


def guarded(fn, n_outputs: int):
    """An event function that never lets an exception reach the page: a ``UserError`` or a
    crash (logged with its traceback, server-side only) becomes a warning and the status line
    (the last output); the other outputs, the session included, stay as they were."""

    @functools.wraps(fn)
    def run(*args):
        try:
            return fn(*args)
        except UserError as err:
            message = str(err)
            message = message[0].upper() + message[1:]
        except Exception:
            log.exception("event %s failed", fn.__name__)
            message = CRASH
        gr.Warning(message)
        return [gr.skip()] * (n_outputs - 1) + [f"⚠️ {message}"]

    return run


def build_app(gen, finder: PersonFinder | None = None) -> gr.Blocks:
    """The editor's page for a ``PersonGenerator``. ``finder`` finds people in photos
    (default: a ``PersonFinder`` with mediapipe, created on the first upload)."""
    finder = finder or PersonFinder()
    k = display_scale(gen.height)
    factors = gen.factors
    on = {"show_progress": "hidden", "concurrency_id": "render"}  # quick events share one limit

    def show(s: Session, message: str = "") -> list:
        """The session as the page shows it: the ``view`` outputs below."""
        image = render(gen, s)
        return [s, upscale(image, k), editor_value(image, s.keypoints), visible_joints(s.keypoints), describe(gen, s), message]

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(900, 3600)) as demo:
        state = gr.State(Session())
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=260):
                image = gr.Image(label="Person", format="png", interactive=False, elem_id="person", buttons=["download"])
                caption = gr.Markdown(elem_id="caption")
                status = gr.Markdown(elem_id="status")
            with gr.Column(scale=5), gr.Tabs():
                with gr.Tab("Sample", id="sample"):
                    seeds, sliders, dice = {}, {}, {}
                    for f in factors:
                        with gr.Group():
                            gr.Markdown(f"**{FACTOR_TITLES[f]}**", padding=True)
                            with gr.Row():
                                seeds[f] = gr.Number(DEFAULT_SEEDS[f], label="Seed", precision=0, minimum=0, maximum=MAX_SEED, elem_id=f"{f}-seed", min_width=100)
                                dice[f] = gr.Button("🎲 New seed", elem_id=f"{f}-dice", scale=0, min_width=120)
                            with gr.Row():
                                sliders[f] = [
                                    gr.Slider(-SLIDER_RANGE, SLIDER_RANGE, 0.0, step=0.05, label=f"Direction {i + 1}", elem_id=f"{f}-slider-{i}", min_width=120)
                                    for i in range(SLIDERS)
                                ]  # fmt: skip
                    with gr.Row():
                        locks = gr.CheckboxGroup([FACTOR_LABELS[f] for f in factors], label="Lock (keep when sampling all)", elem_id="locks")
                        sample_all = gr.Button("🎲 Sample all", variant="primary", elem_id="sample-all", scale=0, min_width=160)
                with gr.Tab("Edit a photo", id="photo"):
                    with gr.Row():
                        with gr.Column():
                            photo = gr.File(label="Photo of one person", elem_id="photo")
                            examples = example_photos()
                            gallery = gr.Gallery(examples, label="Or click an example", columns=4, height=130, allow_preview=False, object_fit="cover", elem_id="examples", visible=bool(examples))
                        found = gr.Image(label="Person found", format="png", interactive=False, elem_id="found")
                    back = gr.Button("Back to the photo's person", elem_id="use-photo")
                    with gr.Row():
                        other = gr.File(label="Second photo", elem_id="other")
                        other_found = gr.Image(label="Person found", format="png", interactive=False, elem_id="other-found")
                    with gr.Row():
                        take_what = gr.CheckboxGroup([FACTOR_LABELS[f] for f in factors], value=[FACTOR_LABELS[factors[1]]], label="Take from the second photo", elem_id="take-what")
                        take = gr.Button("Take", elem_id="take", scale=0, min_width=100)
                    with gr.Row():
                        parts = gr.CheckboxGroup([h.part_label(p) for p in BODY_PARTS], value=["upper body"], label="Swap body parts with the second photo", elem_id="parts")
                        swap = gr.Button("Swap", elem_id="swap", scale=0, min_width=100)
                with gr.Tab("Edit the pose", id="pose"):
                    gr.Markdown("Drag a joint to move it (or focus it and use the arrow keys); the person re-renders in the new pose.")
                    with gr.Row():
                        editor = gr.HTML(
                            None, html_template='<div class="dpg-pose"></div>', css_template=(STATIC / "pose_editor.css").read_text(),
                            js_on_load=(STATIC / "pose_editor.js").read_text(), elem_id="pose-editor", apply_default_css=False,
                            limbs=[list(b) for b in LIMBS], colours=[f"rgb{c}" for c in _LIMB_COLOURS], joints=[joint_label(j) for j in range(18)],
                        )  # fmt: skip
                        with gr.Column():
                            joints = gr.CheckboxGroup([joint_label(j) for j in range(len(JOINTS))], label="Joints shown", elem_id="joints")
                            with gr.Row():
                                reset = gr.Button("Reset pose", elem_id="reset-pose")
                                random_pose = gr.Button("🎲 Random pose", elem_id="random-pose")
                with gr.Tab("Interpolate", id="interpolate"):
                    mode = gr.Radio(["two seeds", "two photos"], value="two seeds", label="Between", info="Two photos: the photo and the second photo of the photo tab, inverted to noise (a few seconds)")
                    with gr.Row():
                        seed_a = gr.Number(0, label="Seed A", precision=0, minimum=0, maximum=MAX_SEED, elem_id="seed-a")
                        seed_b = gr.Number(1, label="Seed B", precision=0, minimum=0, maximum=MAX_SEED, elem_id="seed-b")
                    chosen = gr.CheckboxGroup([FACTOR_LABELS[f] for f in factors], value=[FACTOR_LABELS[f] for f in factors], label="Factors that change", elem_id="interp-factors")
                    with gr.Row():
                        steps = gr.Slider(2, h.MAX_STEPS, 8, step=1, label="Steps", elem_id="steps")
                        method = gr.Radio(["slerp", "lerp"], value="slerp", label="Path in noise space")
                    go = gr.Button("Interpolate", variant="primary", elem_id="interpolate-go")
                    frames = gr.Gallery(label="Frames", columns=8, height="auto", format="png", elem_id="frames")
                    gif = gr.File(label="GIF", elem_id="gif")

        view = [state, image, editor, joints, caption, status]

        # -- Sample: a factor's seed box and sliders are one event, its dice another.
        demo.load(guarded(lambda s: show(h.start(gen, s)), len(view)), [state], view, api_name="start", **on)
        for f in factors:
            def set_factor(s, seed, *amounts, f=f):
                return show(h.set_factor(gen, s, f, seed, amounts))

            def roll(s, f=f):
                s = h.roll(gen, s, f)
                return [*show(s), s.seeds[f]]

            gr.on(
                [seeds[f].submit, seeds[f].blur] + [sl.input for sl in sliders[f]], guarded(set_factor, len(view)),
                [state, seeds[f], *sliders[f]], view, api_name=f"set_{f}", trigger_mode="always_last", **on,
            )  # fmt: skip
            dice[f].click(guarded(roll, len(view) + 1), [state], [*view, seeds[f]], api_name=f"roll_{f}", **on)

        def sample_everything(s, locked):
            s = h.sample_all(gen, s, locked)
            return [*show(s), *(s.seeds[f] for f in factors)]

        sample_all.click(guarded(sample_everything, len(view) + len(factors)), [state, locks], [*view, *seeds.values()], api_name="sample_all", **on)

        # -- Edit a photo. Detection takes ~0.1 s (1 s the first time): its own queue.
        def load(s, path, slot="photo"):
            if path is None:  # the file box was cleared
                return [gr.skip()] * (len(view) + 1)
            s, person = h.load_photo(gen, finder, s, path, slot)
            n = int((person.keypoints[:, 2] > 0).sum())
            msg = f"Found the person in {person.name} ({n} of 18 joints)."
            return [*show(s, msg), overlay(person.crop, person.keypoints, k)]

        def load_other(s, path):
            if path is None:
                return [gr.skip()] * 3
            s, person = h.load_photo(gen, finder, s, path, "other")
            msg = f"Second photo: found the person in {person.name}. Take factors or swap parts below."
            return [s, overlay(person.crop, person.keypoints, k), msg]

        def load_example(s, evt: gr.SelectData):
            path = examples[evt.index]
            return [*load(s, path), path]

        photo_events = {"concurrency_id": "photo", "concurrency_limit": 1}
        photo.upload(guarded(load, len(view) + 1), [state, photo], [*view, found], api_name="load_photo", **photo_events)
        other.upload(guarded(load_other, 3), [state, other], [state, other_found, status], api_name="load_other", **photo_events)
        gallery.select(guarded(load_example, len(view) + 2), [state], [*view, found, photo], api_visibility="undocumented", **photo_events)
        back.click(guarded(lambda s: show(h.use_photo(gen, s)), len(view)), [state], view, api_name="use_photo", **on)
        take.click(guarded(lambda s, what: show(h.take_from_other(gen, s, what)), len(view)), [state, take_what], view, api_name="take", **on)
        swap.click(guarded(lambda s, p: show(h.swap_parts(gen, s, p)), len(view)), [state, parts], view, api_name="swap_parts", **on)

        # -- Edit the pose. The editor's "drag" event carries its value (the new keypoints).
        editor.drag(guarded(lambda s, value: show(h.move_joints(gen, s, value)), len(view)), [state, editor], view, api_name="move_joints", trigger_mode="always_last", **on)
        joints.input(guarded(lambda s, names: show(h.set_visible_joints(gen, s, names)), len(view)), [state, joints], view, api_name="set_joints", trigger_mode="always_last", **on)
        reset.click(guarded(lambda s: show(h.reset_pose(gen, s)), len(view)), [state], view, api_name="reset_pose", **on)

        def new_pose(s):
            s = h.random_pose(gen, s)
            return [*show(s), s.seeds["pose"], *[0.0] * SLIDERS]

        if "pose" in factors:
            random_pose.click(guarded(new_pose, len(view) + 1 + SLIDERS), [state], [*view, seeds["pose"], *sliders["pose"]], api_name="random_pose", **on)

        # -- Interpolate: inversion takes seconds, so it has a queue of its own.
        def interpolate(s, between, a, b, what, n, how):
            if between == "two photos":
                s, out, residual = h.interpolate_photos(gen, s, what, n, how)
                msg = h.describe_residual(residual)
            else:
                out, msg = h.interpolate_seeds(gen, a, b, what, n, how), ""
            return [s, [upscale(x, k) for x in out], write_gif(out, k), msg]

        go.click(guarded(interpolate, 4), [state, mode, seed_a, seed_b, chosen, steps, method], [state, frames, gif, status], api_name="interpolate", concurrency_id="interpolate", concurrency_limit=1)
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


def load_app(checkpoint=None, device=None, concurrency: int | None = None) -> gr.Blocks:
    """Load the weights and build the page (queued), or the "model is missing" page."""
    from dpg.inference import PersonGenerator

    try:
        gen = PersonGenerator.from_checkpoint(checkpoint, device)
    except UserError as err:
        log.error("no model: %s", err)
        return build_missing_app(str(err)).queue()
    for f in gen.factors:  # the sliders' directions: computed once, before the first visitor
        gen.directions(f, SLIDERS)
    if concurrency is None:
        # On a CPU one event at a time uses every core (intra-op threads) and finishes soonest.
        concurrency = 4 if gen.device.type == "cuda" else 1
    log.info("model %s on %s, %d event(s) at a time", getattr(gen, "checkpoint", "?"), gen.device, concurrency)
    return build_app(gen).queue(default_concurrency_limit=concurrency, max_size=64)


def theme() -> gr.themes.Base:
    # System fonts: the default theme fetches web fonts, and the app must work offline.
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="weights: a .safetensors path or a Hub repo id (default: the bundled weights)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when present)")
    p.add_argument("--host", default=None, help="address to serve on (default: 127.0.0.1, or $GRADIO_SERVER_NAME)")
    p.add_argument("--port", type=int, default=None, help="port (default: 7860, or $GRADIO_SERVER_PORT)")
    p.add_argument("--concurrency", type=int, default=None, help="events run at once (default: 1 on a CPU, 4 on a GPU)")
    p.add_argument("--max-file-size", default="20mb", help="largest upload (default: 20mb)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    demo = load_app(args.checkpoint, args.device, args.concurrency)
    demo.launch(server_name=args.host, server_port=args.port, max_file_size=args.max_file_size, ssr_mode=False, theme=theme(), show_error=False)


if __name__ == "__main__":
    main()

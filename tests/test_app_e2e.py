"""End to end: ``python app.py`` on a free local port (a tiny seeded checkpoint), driven through
its API with ``gradio_client`` as a program or a second browser tab would."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dpg.app.session import Session, materialize, render
from dpg.app.views import display_scale
from dpg.checkpoint import save_weights
from dpg.config import tiny
from dpg.inference import PersonGenerator
from dpg.model import DisentangledPersonModel
from dpg.preview import decoder_id, narrow_decoder, preview_path, save_preview

gradio_client = pytest.importorskip("gradio_client")
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "assets" / "examples" / "astronaut.jpg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python app.py`` serving a tiny seeded model; yields ``(url, local PersonGenerator)``."""
    torch.manual_seed(0)
    ckpt = tmp_path_factory.mktemp("app") / "tiny.safetensors"
    cfg = tiny()
    save_weights(ckpt, DisentangledPersonModel(cfg), cfg)
    yield from serve(ckpt, tmp_path_factory)


@pytest.fixture(scope="module")
def preview_server(tmp_path_factory):
    """The same with a preview decoder beside the checkpoint (``dpg.preview``)."""
    torch.manual_seed(0)
    ckpt = tmp_path_factory.mktemp("app") / "tiny.safetensors"
    cfg = tiny()
    model = DisentangledPersonModel(cfg)
    save_weights(ckpt, model, cfg)
    save_preview(preview_path(ckpt), narrow_decoder(model.stage1.decoder, 4), decoder_id(model))
    yield from serve(ckpt, tmp_path_factory)


def serve(ckpt, tmp_path_factory):
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", OMP_NUM_THREADS="1", NO_PROXY="127.0.0.1,localhost")
    with open(tmp_path_factory.mktemp("log") / "app.log", "w+") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "app.py"),
                "--checkpoint",
                str(ckpt),
                "--port",
                str(port),
                "--device",
                "cpu",
                "--max-file-size",
                "1mb",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.time() + 120
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2).read()
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        log.seek(0)
                        pytest.fail(f"app.py did not start:\n{log.read()[-3000:]}")
                    time.sleep(0.5)
            yield url, PersonGenerator.from_checkpoint(ckpt, "cpu")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def client(url):
    return gradio_client.Client(url, verbose=False)


def picture(path) -> np.ndarray:
    """The page's picture (at the model's size: the browser enlarges it)."""
    return np.asarray(Image.open(path).convert("RGB"))


def test_sample_through_the_api(server):
    url, gen = server
    c = client(url)
    image, editor, _joints, caption, status = c.predict(api_name="/start")
    assert np.array_equal(picture(image), render(gen, materialize(gen, Session())))
    # a file the app wrote once (dpg.app.views.picture_file), not Gradio's "image.png" of an
    # array, which it rewrote in place while another visitor downloaded it
    assert Path(image).name.startswith("picture-")
    assert editor["width"] == gen.width and len(editor["keypoints"]) == 18 and status == ""

    image, _editor, _joints, caption, seed, *sliders, status = c.predict(7, 1.0, 0, 0, api_name="/set_fg")
    assert seed == 7 and status == ""
    expected = Session(seeds={"fg": 7, "bg": 1, "pose": 2}, offsets={"fg": [1.0, 0, 0], "bg": [0] * 3, "pose": [0] * 3})
    assert np.array_equal(picture(image), render(gen, materialize(gen, expected)))
    assert "seed 7 (moved)" in caption

    *_, seed = c.predict(api_name="/roll_bg")
    assert isinstance(seed, (int, float)) and 0 <= seed < 2**31


def test_a_moving_slider_is_drawn_by_the_preview_and_its_release_by_the_full_decoder(preview_server):
    url, gen = preview_server
    assert gen.preview is not None
    c = client(url)
    c.predict(api_name="/start")
    expected = materialize(gen, Session(seeds={"fg": 7, "bg": 1, "pose": 2}, offsets={"fg": [1.0, 0, 0], "bg": [0] * 3, "pose": [0] * 3}))
    image, status = c.predict(7, 1.0, 0, 0, api_name="/drag_fg")  # a slider's "input": the picture only
    assert "⚠️" not in str(status)  # no message: the status line is left as it was
    assert np.array_equal(picture(image), render(gen, expected, preview=True))
    assert not np.array_equal(picture(image), render(gen, expected))
    # the session did not move: a full event after the drag still shows the start's person
    image, _editor, _joints, caption, _status = c.predict(False, api_name="/model_only")
    assert np.array_equal(picture(image), render(gen, materialize(gen, Session()))) and "seed 7" not in caption
    image, *_ = c.predict(7, 1.0, 0, 0, api_name="/set_fg")  # its "release": the full picture, the session
    assert np.array_equal(picture(image), render(gen, expected))
    image, status = c.predict(7, -1.0, 0, 0, api_name="/drag_fg")
    moved = materialize(gen, Session(seeds={"fg": 7, "bg": 1, "pose": 2}, offsets={"fg": [-1.0, 0, 0], "bg": [0] * 3, "pose": [0] * 3}))
    assert np.array_equal(picture(image), render(gen, moved, preview=True))


def test_without_a_preview_there_is_no_drag_event(server):
    url, gen = server
    assert gen.preview is None
    with pytest.raises(ValueError):
        client(url).predict(7, 1.0, 0, 0, api_name="/drag_fg")


def test_two_visitors_never_see_each_others_edits(server):
    url, _ = server
    a, b = client(url), client(url)
    a.predict(11, 0, 0, 0, api_name="/set_fg")
    b.predict(22, 0, 0, 0, api_name="/set_bg")
    caption_a = a.predict(api_name="/reset_pose")[3]
    caption_b = b.predict(api_name="/reset_pose")[3]
    assert "**foreground** seed 11" in caption_a and "**background** seed 1 " in caption_a + " "
    assert "**foreground** seed 0" in caption_b and "**background** seed 22" in caption_b


def test_photos_and_bad_files(server, tmp_path):
    url, gen = server
    c = client(url)
    _image, _editor, _joints, caption, status, found, _file = c.predict(gradio_client.handle_file(str(EXAMPLE)), api_name="/load_photo")
    assert "Found the person in astronaut.jpg" in status and "from astronaut.jpg" in caption
    assert Image.open(found).size == (gen.width * display_scale(gen.height), gen.height * display_scale(gen.height))
    assert Path(found).name.startswith("picture-")

    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    out = c.predict(gradio_client.handle_file(str(notes)), api_name="/load_photo")
    assert "not an image" in out[4] and "Traceback" not in out[4]
    assert out[5] is None  # the refused file's slot is emptied, the astronaut no longer shown as found
    # The app keeps working; the factors still shown say which photo they came from.
    caption = c.predict(3, 0, 0, 0, api_name="/set_bg")[3]
    assert "**foreground** from astronaut.jpg (replaced by a refused upload)" in caption and "**background** seed 3" in caption

    c.predict(gradio_client.handle_file(str(EXAMPLE)), api_name="/load_other")
    caption = c.predict(["pose"], api_name="/take")[3]
    assert "**pose** from astronaut.jpg" in caption


def test_drag_a_joint_and_interpolate(server):
    url, _ = server
    c = client(url)
    image, editor, *_ = c.predict(api_name="/start")
    j = next(i for i, row in enumerate(editor["keypoints"]) if row[2])
    editor["keypoints"][j][:2] = [0, 0]
    moved, editor2, *_, caption, _status = c.predict(editor, api_name="/move_joints")
    assert editor2["keypoints"][j][:2] == [0, 0] and "**pose** edited" in caption
    assert not np.array_equal(picture(image), picture(moved))

    frames, gif, _status = c.predict("two seeds", 0, 5, ["pose"], 4, "slerp", api_name="/interpolate")
    assert len(frames) == 4 and Image.open(gif).n_frames == 6  # 4 frames forth, 2 back
    assert all(Path(f["image"]).name.startswith("picture-") for f in frames)


def test_visitors_uploading_one_photo_at_once_all_get_their_pictures(server):
    """Several visitors clicking one example photo at once get identical pictures; each must
    arrive whole (Gradio's own file for an array was rewritten in place while another visitor
    downloaded it: "peer closed connection without sending complete message body")."""
    import threading

    url, _ = server
    clients = [client(url) for _ in range(6)]
    got, failed = [], []

    def visitor(c):
        for _ in range(2):
            try:
                image, *_, found, _file = c.predict(gradio_client.handle_file(str(EXAMPLE)), api_name="/load_photo")
                got.append((picture(image), picture(found)))
            except Exception as err:  # noqa: BLE001 - counted and shown below
                failed.append(repr(err))

    threads = [threading.Thread(target=visitor, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failed == [] and len(got) == 12
    assert all(np.array_equal(a, got[0][0]) and np.array_equal(b, got[0][1]) for a, b in got)


def test_uploads_over_the_limit_are_refused(server, tmp_path):
    url, _ = server
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 1_100_000)  # the server above allows 1 MB
    c = client(url)
    with pytest.raises(Exception, match="(?i)size|large|413"):
        c.predict(gradio_client.handle_file(str(big)), api_name="/load_photo")
    assert c.predict(api_name="/reset_pose")[4] == ""  # and the app keeps working


@pytest.mark.parametrize(
    "args, api, said",
    [
        (("abc", 0, 0, 0), "/set_fg", "whole number"),
        (("", 0, 0, 0), "/set_fg", "empty"),
        (([1, 2], 0, 0, 0), "/set_fg", "whole number"),
        ((3.5, 0, 0, 0), "/set_fg", "whole number"),
        ((True, 0, 0, 0), "/set_bg", "whole number"),
        ((1, "x", 0, 0), "/set_pose", "slider"),
        (("two seeds", 0, 5, ["pose"], "abc", "slerp"), "/interpolate", "steps"),
    ],
)
def test_wrong_typed_api_values_get_a_message_not_an_exception(server, args, api, said):
    # Gradio's own Number check raised an opaque "upstream Gradio app has raised an exception"
    c = gradio_client.Client(server[0], verbose=False)
    c.predict(api_name="/start")
    out = c.predict(*args, api_name=api)
    assert said in str(out[-1]).lower(), out  # the status line, the last output of every event

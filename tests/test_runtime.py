"""The fast composer (dpg.runtime) against the eager one, on a tiny seeded model."""

import threading

import numpy as np
import pytest
import torch

import dpg.runtime as runtime
from dpg.config import tiny
from dpg.inference import PersonGenerator
from dpg.model import DisentangledPersonModel, Factors
from dpg.pixels import to_uint8

needs_nnpack = pytest.mark.skipif(not runtime.nnpack_available(), reason="this torch build has no NNPACK")


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    g = PersonGenerator(DisentangledPersonModel(tiny()), "cpu")
    # a tiny untrained decoder's output hugs 0; scale the output layer so the picture spans
    # most grey levels and a rounding difference has somewhere to show
    with torch.no_grad():
        g.model.stage1.decoder.out.weight.mul_(20)
    return g


def people(gen, n=6):
    return [gen.sample(fg=[i], bg=[i], pose=[i]) for i in range(n)]


@needs_nnpack
def test_fast_path_matches_eager_within_the_stated_tolerance(gen):
    fast = runtime.FastComposer(gen)
    spread = []
    for f in people(gen):
        assert fast.uses_fast_path(1)
        with torch.no_grad():
            a, b = gen.model.decode(f), fast.decode(f)
        torch.testing.assert_close(b, a, rtol=0, atol=1e-4)  # Winograd rounding, not another image
        ea, eb = gen.compose(f), fast.compose(f)
        assert eb.shape == ea.shape == (1, gen.height, gen.width, 3) and eb.dtype == np.uint8
        assert np.abs(eb.astype(int) - ea.astype(int)).max() <= runtime.TOLERANCE_LEVELS
        assert np.mean(eb != ea) < 1e-3
        spread.append(len(np.unique(ea)))
    assert min(spread) > 50  # the check above saw real pictures, not a flat grey


@needs_nnpack
def test_split_over_two_threads_gives_the_same_numbers_and_only_when_alone(gen, monkeypatch):
    monkeypatch.setattr(runtime, "SPLIT_MIN_CHANNELS", 1)  # the tiny model's layers are narrow
    threads = []
    nnpack = runtime._nnpack

    def spy(*args):
        threads.append(threading.current_thread().name)
        return nnpack(*args)

    monkeypatch.setattr(runtime, "_nnpack", spy)
    f = gen.sample(fg=[1], bg=[2], pose=[3])
    one, two = runtime.FastComposer(gen, split=False), runtime.FastComposer(gen, split=True)
    with torch.no_grad():
        a = one.decode(f)
        assert threads and not any(t.startswith("dpg-split") for t in threads)
        threads.clear()
        b = two.decode(f)
        assert any(t.startswith("dpg-split") for t in threads)  # half of each layer ran there
        assert torch.equal(a, b)  # each output channel is computed from the same numbers
        threads.clear()
        two._running = 1  # another event is decoding: it has the other core
        c = two.decode(f)
        assert not any(t.startswith("dpg-split") for t in threads) and torch.equal(a, c)


@needs_nnpack
def test_one_by_one_before_upsampling_is_the_same_layer(gen):
    dec = gen.model.stage1.decoder
    conv = dec.upsample[0]
    x = torch.randn(1, conv.in_channels, 4, 2)
    up = lambda t: torch.nn.functional.interpolate(t, scale_factor=2.0, mode="nearest")  # noqa: E731
    with torch.no_grad():
        torch.testing.assert_close(up(torch.relu(conv(x))), torch.relu(conv(up(x))), rtol=0, atol=1e-6)


def test_without_nnpack_or_outside_the_fast_path_it_is_the_eager_composer(gen, monkeypatch):
    f2 = gen.sample(fg=[1, 2], bg=[3, 4], pose=[5, 6])
    fast = runtime.FastComposer(gen.model, max_batch=1)
    assert not fast.uses_fast_path(2)
    assert np.array_equal(fast.compose(f2), gen.compose(f2))  # batch above max_batch
    monkeypatch.setattr(runtime, "nnpack_available", lambda: False)
    missing = runtime.FastComposer(gen)
    f1 = gen.sample(fg=[1], bg=[3], pose=[5])
    assert not missing.uses_fast_path(1)
    assert np.array_equal(missing.compose(f1), gen.compose(f1))
    with torch.no_grad():
        assert np.array_equal(to_uint8(missing.decode(f1)), gen.compose(f1))


@needs_nnpack
def test_reads_the_live_weights_and_needs_no_background(gen):
    torch.manual_seed(1)
    cfg = tiny()
    model = DisentangledPersonModel(cfg)
    fast = runtime.FastComposer(model)
    f = PersonGenerator(model, "cpu").sample(fg=[2], bg=[2], pose=[2])
    with torch.no_grad():
        before = fast.decode(f)
        model.stage1.decoder.up[-1].conv2.bias.add_(0.5)  # a changed weight, after the first call
        torch.testing.assert_close(fast.decode(f), model.decode(f), rtol=0, atol=1e-4)
        assert not torch.allclose(fast.decode(f), before)
    # a foreground-only model (bg_dim 0) composes from fg alone
    from dataclasses import replace

    fg_only = DisentangledPersonModel(replace(cfg, model=replace(cfg.model, bg_dim=0)))
    g = Factors(f.fg, None, f.keypoints)
    with torch.no_grad():
        torch.testing.assert_close(runtime.FastComposer(fg_only).decode(g), fg_only.decode(g), rtol=0, atol=1e-4)


@needs_nnpack
def test_concurrent_calls_give_each_caller_its_own_picture(gen):
    # the app's handlers run in worker threads; NNPACK's workspace must not be shared
    from concurrent.futures import ThreadPoolExecutor

    fast = runtime.FastComposer(gen)
    fs = people(gen) * 4
    alone = [fast.compose(f) for f in fs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(fast.compose, fs))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together))


@needs_nnpack
def test_an_nnpack_convolution_works_first_thing_in_a_fresh_process(tmp_path):
    # torch initialises NNPACK in torch.backends.nnpack.is_available(), not in the
    # convolution: a process whose first NNPACK call came from dpg.runtime (decode_fast used
    # on its own, without FastComposer asking first) failed on every layer
    import subprocess
    import sys

    script = tmp_path / "first.py"
    script.write_text(
        "import torch\n"
        "torch.set_num_threads(1)\n"
        "from dpg.runtime import _nnpack\n"
        "x, w, b = torch.randn(1, 32, 16, 8), torch.randn(32, 32, 3, 3), torch.zeros(32)\n"
        "print(float((_nnpack(x, w, b) - torch.nn.functional.conv2d(x, w, b, padding=1)).abs().max()))\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) < 1e-2  # Winograd rounding on values of size ~10

"""Fast composing on the CPU for the editor's slider events (issue 21).

One slider event composes one 128x64 person: the stage-I decoder (section 3.1, Fig. 10c)
at batch 1. Profiled on a 2-core AVX2 EPYC, about 90% of its time is 3x3 stride-1
convolutions (the residual blocks; the two full-resolution up blocks alone are 40%), all
compute-bound in oneDNN's direct convolution. ``FastComposer`` runs the same decoder with
two changes, both in how the numbers are computed, not in what is computed:

* every 3x3 stride-1 convolution goes through NNPACK's Winograd transform
  (``torch._nnpack_spatial_convolution``), about 2.25x fewer multiply-adds for those layers;
* each up step's 1x1 convolution (and its ReLU) runs before the nearest x2 upsampling
  instead of after it: a pointwise map commutes with copying pixels, so the numbers are the
  same and the layer costs a quarter;
* optionally (``split``, ``DPG_SPLIT_CONV=1``), when it is the only decode in flight and the
  machine has a second core, each 3x3 layer's output channels are halved between two
  threads: the same numbers, on two cores (the app runs one event per core, one torch
  thread each; with two events in flight each keeps its core). Off by default: it pays only
  where the second core is otherwise idle (see ``FastComposer``).

Winograd rounds differently from a direct convolution, so the image is not bit-identical to
``PersonGenerator.compose``: on the bundled model at most 1 grey level on 0.001-0.005% of
the values (float difference about 1e-5 in [-1, 1] units). ``TOLERANCE_LEVELS`` states it and
tests hold it. Anything outside the fast path (no NNPACK in this torch build, a GPU, a
batch above ``max_batch``, grad mode) runs the model's own eager decode, bit-identical.

Also measured (bench/bench_speed.py prints the comparison): ``inference_mode`` and
``torch.jit.freeze`` change nothing here; channels-last and ``torch.compile`` (27 s to
compile) gain 13-17% at 1 thread, NNPACK with the 1x1 swap about 30%; ONNX Runtime gains
22% but exporting needs the ``onnx`` package, whose protobuf>=6 conflicts with mediapipe's
protobuf<5, so it is not used.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from dpg.decoder import UNetDecoder
from dpg.nn import ConvResBlock
from dpg.pixels import to_uint8

# The largest difference from the eager composer, in uint8 grey levels, that the fast path
# may show (Winograd's rounding; a test checks it on a tiny seeded model).
TOLERANCE_LEVELS = 1


def nnpack_available() -> bool:
    """Whether this torch build can run NNPACK convolutions on this CPU (x86 needs AVX2)."""
    return bool(torch.backends.nnpack.is_available())


# A 3x3 layer with at least this many output channels is split in two halves over two threads
# when a second core is free (``decode_fast``'s ``pool``); below, the hand-over costs more.
SPLIT_MIN_CHANNELS = 16


_nnpack_ready = False  # NNPACK initialised in this process


def _nnpack(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    global _nnpack_ready
    if not _nnpack_ready:
        # torch initialises NNPACK in ``torch.backends.nnpack.is_available()``, not in the
        # convolution: called first in a fresh process (one torch thread), every convolution
        # failed ("NNPACK SpatialConvolution_updateOutput failed"); FastComposer asked first
        _nnpack_ready = nnpack_available()
    return torch._nnpack_spatial_convolution(x, weight, bias, [1, 1])


def _conv(conv: torch.nn.Conv2d, x: torch.Tensor, pool: ThreadPoolExecutor | None = None) -> torch.Tensor:
    """A convolution layer, through NNPACK when it is a 3x3 stride-1 one (the residual blocks
    and the output layer), through the layer itself otherwise (stride 2, 1x1). With ``pool``
    (one more thread), the first half of the output channels is computed there and the second
    here, at once: the same numbers (each output channel sees the same input and weights),
    on two cores. NNPACK's own thread pool at 2 threads was slower than one (module doc)."""
    if conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1) and conv.groups == 1:
        w, b = conv.weight, conv.bias
        half = w.shape[0] // 2
        if pool is None or half < SPLIT_MIN_CHANNELS:
            return _nnpack(x, w, b)
        first = pool.submit(_nnpack, x, w[:half], None if b is None else b[:half])
        second = _nnpack(x, w[half:], None if b is None else b[half:])
        return torch.cat([first.result(), second], 1)  # [N, C_out, H, W]
    return conv(x)


def _block(block: ConvResBlock, x: torch.Tensor, pool: ThreadPoolExecutor | None = None) -> torch.Tensor:
    """``ConvResBlock.forward`` with ``_conv``: ``x + relu(conv2(relu(conv1(x))))``."""
    return x + torch.relu(_conv(block.conv2, torch.relu(_conv(block.conv1, x, pool)), pool))


def decode_fast(dec: UNetDecoder, emb: torch.Tensor, pose_map: torch.Tensor, pool: ThreadPoolExecutor | None = None) -> torch.Tensor:
    """``UNetDecoder.forward`` step for step, with NNPACK 3x3 convolutions and each up step's
    1x1 convolution before its upsampling. ``emb [N, E]``, ``pose_map [N, 18, H, W]`` ->
    image ``[N, 3, H, W]`` (linear). Reads the live modules, so changed weights are used.
    ``pool``: a one-thread executor that computes half of each 3x3 layer's channels."""
    x = torch.relu(dec.inp(emb, pose_map))  # [N, C, H, W]; the tile-free first conv as is
    skips = []
    for i, block in enumerate(dec.down):
        x = _block(block, x, pool)
        skips.append(x)
        if i < len(dec.downsample):
            x = torch.relu(dec.downsample[i](x))  # stride 2: [N, C(i+2), H/2, W/2]
    x = dec.from_z(dec.to_z(x.flatten(1))).view(-1, *dec.bottom)  # [N, C, h, w]
    for idx, block in enumerate(dec.up):
        x = _block(block, torch.cat([x, skips[-1 - idx]], 1), pool)
        if idx < len(dec.upsample):
            # relu(conv1x1(up(x))) == up(relu(conv1x1(x))): both are per pixel, and nearest
            # upsampling only copies pixels; at a quarter of the pixels
            x = F.interpolate(torch.relu(dec.upsample[idx](x)), scale_factor=2.0, mode="nearest")
    return _conv(dec.out, x, pool)


class FastComposer:
    """``compose(factors) -> uint8 [N, H, W, 3]`` like ``PersonGenerator.compose``, faster on
    a CPU at small batches (see the module doc for what differs, and by how much).

    ``model``: a ``DisentangledPersonModel`` or anything with one as ``.model`` (a
    ``PersonGenerator``). Nothing is built or copied: the composer reads the model's modules
    at each call, and checks once, at its first call, that NNPACK is there.
    """

    def __init__(self, model, max_batch: int = 1, split: bool | None = None):
        self.model = getattr(model, "model", model)
        self.max_batch = max_batch
        self._nnpack: bool | None = None  # found out lazily, once
        # Split each 3x3 layer over two threads when this event is the only one decoding (a
        # second event in flight has the other core). Off by default: on a 2-core machine that
        # also runs the browser (a laptop) or the clients, the second core is not free, and no
        # end-to-end gain showed (bench_browser.py: 6.5 pictures a second with it, 6.3-7.5
        # without); on a host that only serves, DPG_SPLIT_CONV=1 (bench_speed.py: 43.9 -> 37.2
        # ms for the decoder alone).
        if split is None:
            split = (os.cpu_count() or 1) >= 2 and os.environ.get("DPG_SPLIT_CONV") == "1"
        self.split = split
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._running = 0  # decodes in flight, across the app's worker threads

    def uses_fast_path(self, n: int) -> bool:
        """Whether a batch of ``n`` takes the NNPACK path under ``no_grad`` (else, and always
        with grad on, the model's eager decode: NNPACK's convolution has no backward here).
        Only on one torch thread: with two, oneDNN's direct convolution splits the work better
        (bench_speed.py on the 2-core EPYC: eager 40.8 ms at 2 threads, NNPACK 64.9 ms; at 1
        thread, as the app runs each event, eager 66.9 ms and NNPACK 43.6 ms)."""
        if self._nnpack is None:
            self._nnpack = nnpack_available()
        weight = self.model.stage1.decoder.out.weight
        return (
            self._nnpack
            and n <= self.max_batch
            and torch.get_num_threads() == 1
            and weight.device.type == "cpu"
            and weight.dtype == torch.float32
        )

    def decode(self, factors, decoder: UNetDecoder | None = None) -> torch.Tensor:
        """``Factors`` -> float images ``[N, 3, H, W]`` (linear; about [-1, 1]). ``decoder``:
        another decoder of the same inputs to run instead of stage I's (a preview,
        ``dpg.preview``), on the same path."""
        stage1 = self.model.stage1
        fast = not torch.is_grad_enabled() and self.uses_fast_path(factors.fg.shape[0])
        if decoder is None and not fast:
            return self.model.decode(factors)
        emb = factors.fg if factors.bg is None else torch.cat([factors.fg, factors.bg], 1)  # [N, E]
        pose_map = stage1.pose_map(factors.keypoints).to(emb.dtype)
        if not fast:
            return decoder(emb, pose_map)
        with self._lock:
            self._running += 1
            pool = None  # a second thread only for a decode that runs alone
            if self.split and self._running == 1:
                self._pool = pool = self._pool or ThreadPoolExecutor(1, thread_name_prefix="dpg-split-conv")
        try:
            return decode_fast(decoder or stage1.decoder, emb, pose_map, pool)
        finally:
            with self._lock:
                self._running -= 1

    @torch.no_grad()
    def compose(self, factors, decoder: UNetDecoder | None = None) -> np.ndarray:
        """``Factors`` -> uint8 images ``[N, H, W, 3]`` (``decoder`` as in ``decode``)."""
        return to_uint8(self.decode(factors, decoder))

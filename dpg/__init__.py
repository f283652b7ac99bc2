"""dpg: Disentangled Person Image Generation (Ma et al., CVPR 2018) in PyTorch.

Conventions, written down once and used everywhere in the package:

Images
    Inside the model: float tensors ``[N, 3, H, W]`` in ``[-1, 1]``.
    At the API edge: ``uint8`` arrays ``[H, W, 3]`` (RGB).
    Sizes are ``(height, width)``: Market-1501 is 128x64, DeepFashion 256x256.

Keypoints
    Float arrays ``[..., 18, 3]`` in OpenPose COCO-18 joint order (``dpg.keypoints.JOINTS``),
    one row per joint as ``(x, y, v)``: ``x`` the column and ``y`` the row in pixels of the
    image the keypoints belong to (pixel centres at integers, so the community CSV's integer
    indices map directly), and ``v`` the visibility, 1 for a present joint and 0 for a missing
    one. A missing joint has ``(0, 0, 0)``; code decides presence from ``v`` alone, never from
    the coordinates. Converters for the community CSV (row list first, -1 = missing), OpenPose
    JSON and mediapipe's 33 landmarks live at the edges (``dpg.data.annotations``,
    ``dpg.pose.formats``).

Factors
    ``fg`` the foreground (7 body-ROI embeddings of 32 dims, 224 in all), ``bg`` the
    background (128 dims) and ``pose`` (the pose auto-encoder's 32-dim code, or keypoints).
"""

__version__ = "0.1.0"

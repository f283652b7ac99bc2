"""Photo -> COCO-18 keypoints (mediapipe's pose model) and the keypoint format converters.

* ``dpg.pose.images``: ``load_image`` (any photo -> uint8 ``[H, W, 3]``), ``crop_person``;
* ``dpg.pose.detector``: ``PoseDetector.detect(photo) -> Detection(keypoints, box, score)``,
  ``box_for``;
* ``dpg.pose.person``: ``PersonCropper.crop(photo, size)``: the one person in a photo, cropped
  (group photos and too few joints refused);
* ``dpg.pose.formats``: OpenPose JSON (COCO-18, BODY_25) and mediapipe's 33 landmarks, both ways;
* ``dpg.pose.cli``: ``dpg keypoints PHOTO... [--json OUT] [--overlay OUT.png]``.

Import from those modules (``from dpg.pose.detector import PoseDetector``): the package itself
imports nothing, so ``import dpg.pose`` (done by ``dpg --help``) loads neither mediapipe nor
torch.
"""

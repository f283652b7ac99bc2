"""Training scripts: ``python -m train.pose_ae``, ``train.stage1``, ``train.stage2``."""

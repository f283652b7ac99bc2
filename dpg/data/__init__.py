"""Dataset readers: Market-1501 and DeepFashion folders with the community's keypoint and pair
CSVs (``dpg.data.annotations``), as PyTorch datasets (``dpg.data.market``,
``dpg.data.deepfashion``, shared code in ``dpg.data.folder``).

Kept free of imports so ``import dpg.data.annotations`` stays light.
"""

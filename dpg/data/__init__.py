"""Data: the Market-1501 and DeepFashion readers (``dpg.data.market``, ``dpg.data.deepfashion``,
shared code in ``dpg.data.folder``) with the community's keypoint and pair CSVs
(``dpg.data.annotations``), and the procedural person renderer (``dpg.data.synthetic``).

Kept free of imports so that ``import dpg.data.annotations`` stays light.
"""

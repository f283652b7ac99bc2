"""Data: the Market-1501 and DeepFashion readers (``dpg.data.market``, ``dpg.data.deepfashion``,
shared code in ``dpg.data.folder``) with the community's keypoint and pair CSVs
(``dpg.data.annotations``), ``dpg prepare`` (``dpg.data.prepare``), PETA's attributes
(``dpg.data.peta``), the trainers' sources (``dpg.data.sources``) and the pose geometry every
reader shares (``dpg.data.geometry``). The procedural renderer is its own package,
``dpg.synthetic``.

Kept free of imports so that ``import dpg.data.annotations`` stays light.
"""

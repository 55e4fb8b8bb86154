"""Simulator: items -> codec -> link(s) -> codec -> metrics -> result rows.

* :mod:`.row`: the row function :func:`~semlink.simulator.row.simulate` (one transmission of
  one item or one image set at one SNR) and the :class:`~semlink.simulator.row.LinkPlan` of
  links it uses (unequal error protection).
* :mod:`.metrics`: PSNR, MS-SSIM, LPIPS / ST-LPIPS, bpp / CBR / BCR.
* :mod:`.codec_cli`: the ``semlink codec`` command (a codec alone, no channel).
"""

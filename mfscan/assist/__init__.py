"""mfscan.assist: semi-automatic outlining.

* :mod:`mfscan.assist.propose`: propose an outline from one click
  (:func:`~mfscan.assist.propose.propose_outline`) and record edits
  (:func:`~mfscan.assist.propose.edited_method`);
* :mod:`mfscan.assist.livewire`: edge-snapping tracing between clicks.
"""

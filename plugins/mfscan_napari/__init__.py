"""napari plugin of mfscan: open ultrasound images with their outline sidecars,
trace the left and right multifidus, see calibrated measurements live, and save.

For research use only; not for diagnosis.
"""

from mfscan import RESEARCH_NOTICE, __version__

__all__ = ["RESEARCH_NOTICE", "__version__"]

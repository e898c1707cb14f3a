"""mfscan: measure the lumbar multifidus on transverse ultrasound images.

For research use only; not for diagnosis.
"""

__version__ = "0.1.0"

RESEARCH_NOTICE = (
    "mfscan is a research tool. Its measurements are not validated for clinical "
    "use and must not be used for diagnosis or treatment decisions."
)

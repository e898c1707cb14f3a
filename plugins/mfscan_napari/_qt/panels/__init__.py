"""The panels the Multifidus dock widget is composed of: Qt controls only, no viewer logic."""

from .calibration import CalibrationPanel
from .codes import StudyCodesPanel
from .collapsible import Collapsible
from .measurements import MeasurementsPanel
from .study import StudyPanel
from .tracing import TracingPanel
from .worklist import WorklistPanel

__all__ = [
    "CalibrationPanel",
    "Collapsible",
    "StudyCodesPanel",
    "MeasurementsPanel",
    "StudyPanel",
    "TracingPanel",
    "WorklistPanel",
]

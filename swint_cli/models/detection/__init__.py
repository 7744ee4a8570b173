"""Object detection: FCOS (Tian et al., 2019) over the feature maps of any backbone, as
torchvision's ``fcos_resnet50_fpn`` builds it: an FPN, shared GroupNorm heads, focal, GIoU
and centerness losses, centre sampling with per-level scale ranges, and per-class NMS."""

from .fcos import FCOS, DetectorOutputs, Locations
from .losses import FCOSLoss
from .postprocess import Detections, select_detections

__all__ = [
    "FCOS",
    "Detections",
    "DetectorOutputs",
    "FCOSLoss",
    "Locations",
    "select_detections",
]

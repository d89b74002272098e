"""The exact discrete β-generalised front-door adjustment: the formula and its estimator."""

from .estimator import FrontDoorAdjustment, PositivityError, front_door_adjustment

__all__ = ["FrontDoorAdjustment", "PositivityError", "front_door_adjustment"]

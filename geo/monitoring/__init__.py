"""Online monitoring (HJ 212-2017): devices, readings, checks against permit limits, events."""

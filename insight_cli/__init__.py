"""insight: online prompt selection for RLVR (InSight WMI and its baselines)."""

__version__ = "0.1.0"

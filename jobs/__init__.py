"""Flink jobs of journey-triggers: a builder per job plus a thin ``main``."""

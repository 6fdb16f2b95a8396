"""Scoring: pure-numpy metrics, calibration, and the dataset runner behind ``mien evaluate``."""

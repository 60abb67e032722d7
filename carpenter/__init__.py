"""Carpenter: make ML-competition submissions reproducible before they reach evaluation."""

__version__ = "0.1.0"

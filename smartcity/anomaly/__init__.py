"""Anomaly detection: the kinds of implausible readings the streaming job flags, and their limits."""

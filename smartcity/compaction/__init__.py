"""Compaction of closed lake partitions: many small files per hour rewritten into a few large ones.

``plan`` decides (pure: which partitions, which files), ``swap`` is the one atomic step a listing reader
can observe, ``run`` drives a partition through its recorded phases so a killed run resumes to the same
result. docs/compaction.md states the guarantee and its limits.
"""

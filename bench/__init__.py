"""Benchmarks: ``python -m bench.<name>``. Not tests: nothing here asserts a speed.

Every figure is reported next to a baseline measured in the same run, on the same machine, with the
same client, and as a ratio to it; absolute numbers depend on the machine and what else runs on it.
Each benchmark bounds its loop counts and its time, shows progress, prints a short report and
writes it to ``bench/results/<name>.json``.
"""

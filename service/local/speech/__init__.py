"""Offline speech for the simulated Transcribe: decode media with PyAV, recognise English
with PocketSphinx, in a child process (`worker`).

Kept out of `service.local.sim` so the child imports only this (the simulator package
imports the whole web stack, seconds on a loaded machine).
"""

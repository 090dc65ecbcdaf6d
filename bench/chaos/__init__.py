"""Resilience campaigns: the whole sandbox as processes, real traffic, injected faults.

`python -m bench.chaos` starts the embedded AWS, the simulator and 2-3 bridge workers as
separate processes (the `make dev` supervisor's own parts), drives bursty customers and
rapid agent replies through the simulator's sandbox API, injects one kind of fault per
campaign, waits until nothing is in flight, and prints one line per campaign: what was
sent, lost, doubled and reordered in each direction, the recovery time, and what the
dead-letter queues hold. It measures; it never retries a failed check or hides one.
"""

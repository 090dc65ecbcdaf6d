import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.consumers.stream.tracker import RecordTracker

# 21 digits, then 22: a string comparison would order these wrongly.
SEQ = [
    "999999999999999999990",
    "999999999999999999995",
    "1000000000000000000007",
    "1000000000000000000100",
]


def checkpoint(tracker: RecordTracker) -> str | None:
    # Read through a call so the type checker does not carry a narrowed value across acks.
    return tracker.checkpoint


def finished(tracker: RecordTracker) -> bool:
    return tracker.finished


def test_checkpoint_is_the_end_of_the_contiguous_done_prefix():
    tracker = RecordTracker(checkpoint=None)
    for seq in SEQ:
        tracker.register(seq)
    assert not tracker.mark_done(SEQ[2])
    assert not tracker.mark_done(SEQ[1])
    assert checkpoint(tracker) is None  # SEQ[0] is still in flight
    assert tracker.mark_done(SEQ[0])
    assert checkpoint(tracker) == SEQ[2]
    assert tracker.pending == 1


def test_checkpoint_starts_from_the_lease_checkpoint():
    tracker = RecordTracker(checkpoint="100000000000000000000")
    assert tracker.checkpoint == "100000000000000000000"
    tracker.register(SEQ[0])
    assert tracker.checkpoint == "100000000000000000000"


def test_sequence_numbers_are_compared_as_integers():
    tracker = RecordTracker(checkpoint=None)
    tracker.register(SEQ[1])
    tracker.register(SEQ[2])  # longer string, larger number: accepted
    with pytest.raises(ValueError, match="increasing"):
        tracker.register(SEQ[0])


def test_finished_only_when_fully_read_and_everything_done():
    tracker = RecordTracker(checkpoint=None)
    tracker.register(SEQ[0])
    tracker.mark_fully_read()
    assert not finished(tracker)
    tracker.mark_done(SEQ[0])
    assert finished(tracker)
    with pytest.raises(ValueError, match="end"):
        tracker.register(SEQ[1])


def test_unknown_or_repeated_acks_change_nothing():
    tracker = RecordTracker(checkpoint=None)
    tracker.register(SEQ[0])
    assert not tracker.mark_done(SEQ[3])
    assert tracker.mark_done(SEQ[0])
    assert not tracker.mark_done(SEQ[0])
    assert tracker.checkpoint == SEQ[0]


def test_abandon_forgets_only_an_unacknowledged_tail():
    tracker = RecordTracker(checkpoint=None)
    tracker.register(SEQ[0])
    tracker.register(SEQ[1])
    tracker.abandon(SEQ[0])  # not the tail: ignored
    assert tracker.pending == 2
    tracker.abandon(SEQ[1])
    assert tracker.pending == 1
    tracker.mark_done(SEQ[0])
    assert tracker.checkpoint == SEQ[0]
    assert tracker.pending == 0


async def test_wait_drained_returns_once_the_last_record_is_done():
    tracker = RecordTracker(checkpoint=None)
    tracker.register(SEQ[0])
    waiter = asyncio.create_task(tracker.wait_drained())
    await asyncio.sleep(0)
    assert not waiter.done()
    tracker.mark_done(SEQ[0])
    await asyncio.wait_for(waiter, 1)


@given(
    gaps=st.lists(st.integers(min_value=1, max_value=10**12), min_size=1, max_size=60),
    order=st.randoms(use_true_random=False),
)
def test_checkpoint_never_passes_an_undone_record_and_never_goes_back(gaps, order):
    base = 10**20
    sequences = []
    value = base
    for gap in gaps:
        value += gap
        sequences.append(str(value))
    tracker = RecordTracker(checkpoint=None)
    for seq in sequences:
        tracker.register(seq)
    acks = list(sequences)
    order.shuffle(acks)
    done: set[str] = set()
    previous = -1
    for seq in acks:
        tracker.mark_done(seq)
        done.add(seq)
        checkpoint = tracker.checkpoint
        expected_prefix = 0
        while expected_prefix < len(sequences) and sequences[expected_prefix] in done:
            expected_prefix += 1
        expected = sequences[expected_prefix - 1] if expected_prefix else None
        assert checkpoint == expected
        current = -1 if checkpoint is None else int(checkpoint)
        assert current >= previous
        previous = current
    assert tracker.checkpoint == sequences[-1]

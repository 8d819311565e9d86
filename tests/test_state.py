"""The lease state machine: legal paths pass, anything else raises."""
import pytest

from galerna.model.state import (FINAL_STATES, TRANSITIONS, WAITING_STATES, IllegalTransition, LeaseState as S,
                                  check_transition)

PATHS = [
    [S.PENDING, S.QUEUED, S.SCHEDULED, S.ACTIVE, S.DONE],
    [S.PENDING, S.SCHEDULED, S.PREPARING, S.READY, S.ACTIVE, S.DONE],
    [S.PENDING, S.QUEUED, S.SCHEDULED, S.ACTIVE, S.SUSPENDING, S.SUSPENDED_PENDING, S.SUSPENDED_QUEUED,
     S.SUSPENDED_SCHEDULED, S.MIGRATING, S.SUSPENDED_SCHEDULED, S.RESUMING, S.ACTIVE, S.DONE],
    [S.PENDING, S.SCHEDULED, S.ACTIVE, S.QUEUED, S.SCHEDULED, S.ACTIVE, S.DONE],  # cancel and requeue
    [S.PENDING, S.REJECTED],
    [S.PENDING, S.QUEUED, S.CANCELLED],
]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: "-".join(s.value for s in p))
def test_legal_paths(path):
    for a, b in zip(path, path[1:]):
        check_transition("x", a, b)


@pytest.mark.parametrize("old,new", [(S.PENDING, S.ACTIVE), (S.QUEUED, S.DONE), (S.DONE, S.ACTIVE),
                                     (S.SUSPENDED_QUEUED, S.ACTIVE), (S.REJECTED, S.QUEUED), (S.ACTIVE, S.RESUMING)])
def test_illegal_transitions_raise_and_say_why(old, new):
    with pytest.raises(IllegalTransition, match=f"{old.value} -> {new.value}"):
        check_transition("lease-7", old, new)


def test_final_states_have_no_way_out():
    for s in S:
        assert (TRANSITIONS[s] == frozenset()) == s.final


def test_the_one_final_set_is_the_states_without_a_way_out():
    assert FINAL_STATES == {s for s in S if not TRANSITIONS[s]}


def test_every_waiting_state_is_live_and_can_still_run():
    assert not WAITING_STATES & FINAL_STATES
    for s in WAITING_STATES:
        seen, todo = set(), [s]
        while todo:
            x = todo.pop()
            if x not in seen and x not in FINAL_STATES:
                seen.add(x)
                todo += TRANSITIONS[x]
        assert S.ACTIVE in seen, f"{s.value} can never run"
        assert s not in (S.ACTIVE, S.RESUMING, S.SUSPENDING, S.MIGRATING, S.PREPARING, S.READY)

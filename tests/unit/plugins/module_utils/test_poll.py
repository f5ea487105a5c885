"""_poll: the Waiter and wait_until_recovered (shared by k8s_pod_chaos, container_kill and k8s_agent) and the Docker side of
container_kill's recovery: when a killed container counts as back."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from fake_clock import Clock

from ansible_collections.chaos.engineering.plugins.module_utils import _runtime_docker
from ansible_collections.chaos.engineering.plugins.module_utils._poll import Waiter, wait_until_recovered


def test_each_entry_gets_the_seconds_until_it_was_seen_back():
    clock = Clock()
    entries = [dict(name='fast', since=999.5), dict(name='slow', since=1000.0)]
    back_at = dict(fast=1000.2, slow=1001.0)
    seen = []

    def observe(pending):
        seen.append([e['name'] for e in pending])
        return [clock.now >= back_at[e['name']] for e in pending]

    wait_until_recovered(entries, observe, 10, poll=0.25, first_poll=0.25, clock=clock, sleep=clock.sleep)
    assert [(e['recovered'], e['seconds']) for e in entries] == [(True, 0.75), (True, 1.0)]
    # An entry seen back is not looked at again.
    assert seen == [['fast', 'slow'], ['fast', 'slow'], ['slow'], ['slow'], ['slow']]


def test_a_timeout_keeps_partial_data():
    clock = Clock()
    entries = [dict(name='never', since=clock.now), dict(name='back', since=clock.now)]
    wait_until_recovered(entries, lambda pending: [e['name'] == 'back' for e in pending], 2, clock=clock,
                         sleep=clock.sleep)
    assert entries[0]['recovered'] is False and entries[0]['seconds'] is None
    assert entries[1]['recovered'] is True and entries[1]['seconds'] == 0.0
    assert 1002.0 <= clock.now < 1002.3


def test_polls_fast_at_first_then_backs_off():
    clock = Clock()
    naps = []

    def sleep(seconds):
        naps.append(round(seconds, 4))
        clock.sleep(seconds)

    wait_until_recovered([dict(since=clock.now)], lambda pending: [False], 1.5, clock=clock, sleep=sleep)
    assert naps[:6] == [0.05, 0.075, 0.1125, 0.1688, 0.25, 0.25]


def test_the_waiter_keeps_a_steady_pace_and_returns_the_last_look():
    clock = Clock()
    naps = []
    looks = []

    def sleep(seconds):
        naps.append(seconds)
        clock.sleep(seconds)

    def check():
        looks.append(clock.now)
        return clock.now >= 1001.0, len(looks)

    assert Waiter(5, 0.5, clock=clock, sleep=sleep).wait(check) == (True, 3)
    assert naps == [0.5, 0.5]
    assert Waiter(0.75, 0.5, clock=clock, sleep=sleep).wait(lambda: (False, 'last')) == (False, 'last')
    assert naps[2:] == [0.5, 0.25]


class FakeAPIError(Exception):
    def __init__(self, status):
        super(FakeAPIError, self).__init__('status %d' % status)
        self.response = type('Response', (), dict(status_code=status))()


class FakeClient:
    def __init__(self, state=None, error=None):
        self.state = state
        self.error = error

    def inspect_container(self, container_id):
        if self.error:
            raise self.error
        return dict(State=self.state)


BEFORE = '2026-11-27T10:00:00.000000001Z'
AFTER = '2026-11-27T10:00:01.500000000Z'


@pytest.mark.parametrize('state, back', [
    (dict(Status='running', Running=True, StartedAt=AFTER), True),
    (dict(Status='running', Running=True, StartedAt=BEFORE), False),       # never went down, or not restarted yet
    (dict(Status='exited', Running=False, StartedAt=BEFORE), False),
    (dict(Status='restarting', Running=True, Restarting=True, StartedAt=AFTER), False),
    (dict(Status='running', Running=True, StartedAt=AFTER, Health=dict(Status='starting')), False),
    (dict(Status='running', Running=True, StartedAt=AFTER, Health=dict(Status='unhealthy')), False),
    (dict(Status='running', Running=True, StartedAt=AFTER, Health=dict(Status='healthy')), True),
])
def test_a_killed_container_is_back_when_started_again_running_and_healthy(state, back):
    entry = dict(id='c1', started_at=BEFORE)
    assert _runtime_docker.container_back(FakeClient(state), entry) is back
    assert entry['state'] == state['Status']


def test_a_removed_container_is_not_back_and_other_errors_surface():
    entry = dict(id='c1', started_at=BEFORE)
    assert _runtime_docker.container_back(FakeClient(error=FakeAPIError(404)), entry) is False
    assert entry['state'] == 'removed'
    with pytest.raises(FakeAPIError):
        _runtime_docker.container_back(FakeClient(error=FakeAPIError(500)), entry)


def test_recovery_baseline_is_when_the_container_last_started():
    assert _runtime_docker.recovery_baseline(FakeClient(dict(StartedAt=BEFORE)), 'c1') == dict(started_at=BEFORE)

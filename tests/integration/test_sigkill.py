"""The controller SIGKILLed at the worst moment: the instant the fault shows on the engine or in the target's
network namespace, before the module could report anything. Every fault must still be reverted by its deadline,
and nothing of ours (paused or stopped target, qdisc, rule, helper) may be left. bench/sigkill runs 30 trials per
fault type and prints the lateness; here a few trials of each keep CI short."""
import docker
import pytest

from sigkill_trial import FAULT_TYPES, clean_up, run_trial

TRIALS = 2


@pytest.mark.parametrize('fault_type', FAULT_TYPES)
def test_sigkill_the_moment_the_fault_shows_leaves_nothing(bed, run_id, tmp_path, fault_type):
    client = docker.APIClient(base_url=bed['hosts'][0])
    results = []
    try:
        for trial in range(TRIALS):
            ledger_dir = str(tmp_path / ('ledger-%d' % trial))
            results.append(run_trial(client, bed['hosts'][0], fault_type, run_id, str(tmp_path), ledger_dir))
    finally:
        clean_up(client, run_id)
    for result in results:
        assert result['visible_at'] is not None, 'the fault never showed: %r' % result
        assert result['killed_at'] >= result['visible_at']
        assert not result['leak'], 'the fault outlived the controller: %r' % result
        # The entry was written ahead and performed: its deadline is never later than the fault's own.
        assert result['entries'] >= 1, result
        assert result['deadline'] <= result['visible_at'] + 3 + 1, result

"""_verdict: phases, fault windows, time to detect and recover, and the verdict, from made-up observations."""
from ansible_collections.chaos.engineering.plugins.module_utils._timefmt import iso_utc, to_epoch
from ansible_collections.chaos.engineering.plugins.module_utils._verdict import (
    fault_window,
    judge,
    label_phases,
)

T0 = 1764583200.0  # 2025-12-01T10:00:00Z


def at(seconds):
    return iso_utc(T0 + seconds)


def sample(probe, seconds, ok=True, value=3):
    return dict(probe=probe, type='containers', phase=None, at=at(seconds), ok=ok, value=value, detail='')


def series(probe, start, stop, step=0.5, failing=()):
    """Samples every ``step`` s in [start, stop); those whose time falls in a (from, to) of ``failing`` fail."""
    out = []
    t = start
    while t < stop - 1e-9:
        bad = any(a <= t < b for a, b in failing)
        out.append(sample(probe, t, ok=not bad, value=1 if bad else 3))
        t += step
    return out


QUORUM = dict(name='quorum', type='containers', min_running=2)
SPANS = [dict(phase='during', iteration=1, start=at(2), end=at(10))]


def kill(applied, entry='e1', **extra):
    fault = dict(fault='container_kill', name='kill web', iteration=1, applied_at=at(applied),
                 finished_at=at(applied + 0.1), targets=[dict(id='c1', name='web-1', action='killed')],
                 revert=dict(entries=[entry]))
    fault.update(extra)
    return fault


def test_epoch_reads_iso_and_numbers():
    assert to_epoch(at(1.5)) == T0 + 1.5
    assert to_epoch(T0) == T0 and to_epoch(str(T0)) == T0
    assert to_epoch('2025-12-01T10:00:00+00:00') == T0
    assert to_epoch(None) is None and to_epoch('') is None and to_epoch('soon') is None and to_epoch(True) is None


def test_label_phases_before_during_after():
    labelled = label_phases([sample('q', 1), sample('q', 2), sample('q', 5), sample('q', 10), sample('q', 11)], SPANS)
    assert [s['phase'] for s in labelled] == ['before', 'during', 'during', 'during', 'after']
    assert [s['phase'] for s in label_phases([sample('q', 1)], [])] == ['before']


def test_window_ends_when_the_ledger_entry_was_done_else_at_recovery_else_observation_end():
    finished = {'e1': dict(id='e1', finished_at=T0 + 6)}
    assert fault_window(kill(3), finished, SPANS, T0 + 20) == (T0 + 3, T0 + 6, 'restarted')
    pause = kill(3, fault='container_pause')
    assert fault_window(pause, finished, SPANS, T0 + 20) == (T0 + 3, T0 + 6, 'reverted')
    # A pause ends when its undo began; a kill when the start returned.
    begun = {'e1': dict(id='e1', began_at=at(5.5), finished_at=T0 + 6)}
    assert fault_window(pause, begun, SPANS, T0 + 20) == (T0 + 3, T0 + 5.5, 'reverted')
    assert fault_window(kill(3), begun, SPANS, T0 + 20) == (T0 + 3, T0 + 6, 'restarted')
    measured = kill(3, revert=None, recovery=[dict(what='web-1', seconds=1.5, recovered=True)])
    assert fault_window(measured, {}, SPANS, T0 + 20) == (T0 + 3, T0 + 4.5, 'recovered')
    lost = kill(3, revert=None, recovery=[dict(what='web-1', seconds=None, recovered=False)])
    assert fault_window(lost, {}, SPANS, T0 + 20) == (T0 + 3, T0 + 10, 'observation-end')
    assert fault_window(kill(3, revert=None), {}, [], T0 + 20) == (T0 + 3, T0 + 20, 'observation-end')


def test_a_broken_steady_state_deviates_with_time_to_detect_and_recover():
    samples = series('quorum', 0, 14, failing=[(4, 6)])
    result = judge({}, samples, [QUORUM], [kill(3)], {'e1': dict(finished_at=T0 + 6)}, SPANS)
    assert result['verdict'] == 'deviated'
    assert 'kill web (iteration 1)' in result['reason'] and 'quorum failed 4 of 7' in result['reason']
    (window,) = result['windows']
    (seen,) = window['probes']
    assert window['applied_at'] == at(3) and window['ended_at'] == at(6) and window['seconds'] == 3.0
    assert seen['detected_at'] == at(4) and seen['time_to_detect'] == 1.0
    assert seen['recovered_at'] == at(6) and seen['time_to_recover'] == 2.0
    assert not seen['held'] and seen['conclusive']


def test_a_held_steady_state_passes_and_counts_samples_per_phase():
    samples = series('quorum', 0, 14)
    result = judge({}, samples, [QUORUM], [kill(3)], {'e1': dict(finished_at=T0 + 6)}, SPANS)
    assert result['verdict'] == 'passed', result['reason']
    (summary,) = result['probe_summary']
    assert summary['threshold'] == dict(op='>=', value=2) and summary['unit'] == 'running'
    assert summary['phases']['before']['samples'] == 4 and summary['phases']['after']['samples'] == 7
    assert result['windows'][0]['probes'][0]['samples'] == 7


def test_too_few_samples_in_a_window_is_inconclusive_never_passed():
    samples = series('quorum', 0, 20, step=3)
    result = judge({}, samples, [QUORUM], [kill(3.2)], {'e1': dict(finished_at=T0 + 4.5)}, SPANS)
    assert result['verdict'] == 'inconclusive'
    assert 'Not enough observation' in result['reason'] and '0 sample(s) of quorum' in result['reason']
    result = judge({}, samples, [QUORUM], [kill(3.2)], {'e1': dict(finished_at=T0 + 4.5)}, SPANS, min_samples=1)
    assert result['verdict'] == 'inconclusive'
    # Too few samples after the revert (all passing) cannot say it is back: inconclusive, not deviated.
    samples = series('quorum', 0, 11)
    result = judge({}, samples, [QUORUM], [kill(3)], {'e1': dict(finished_at=T0 + 6)}, SPANS)
    assert result['verdict'] == 'inconclusive' and 'after the revert: quorum' in result['reason']


def test_a_probe_that_does_not_judge_during_does_not_break_the_window_and_only_before_and_after_count():
    samples = series('quorum', 0, 14, failing=[(4, 6)])
    probe = dict(QUORUM, phases=['before', 'after'])
    result = judge({}, samples, [probe], [kill(3)], {'e1': dict(finished_at=T0 + 6)}, SPANS)
    assert result['windows'][0]['probes'] == []
    assert result['verdict'] == 'passed' and 'no probe judges the during phase' in result['reason']


def test_not_back_after_the_revert_deviates():
    samples = series('quorum', 0, 14, failing=[(4, 14)])
    probe = dict(QUORUM, phases=['before', 'after'])
    result = judge({}, samples, [probe], [kill(3)], {'e1': dict(finished_at=T0 + 6)}, SPANS, recovery_timeout=4)
    assert result['verdict'] == 'deviated' and 'not back 4 s after the revert (quorum)' in result['reason']


def test_the_role_s_own_abort_wins_and_before_failures_abort():
    samples = series('quorum', 0, 14)
    result = judge(dict(aborted=True, reason='halted: a halt marker'), samples, [QUORUM], [kill(3)],
                   {'e1': dict(finished_at=T0 + 6)}, SPANS)
    assert result['verdict'] == 'aborted' and result['reason'].startswith('halted')
    samples = series('quorum', 0, 14, failing=[(0, 1)])
    result = judge({}, samples, [QUORUM], [kill(3)], {'e1': dict(finished_at=T0 + 6)}, SPANS)
    assert result['verdict'] == 'aborted' and 'before any fault' in result['reason']


def test_nothing_injected_is_inconclusive_and_dry_runs_have_no_window():
    samples = series('quorum', 0, 14)
    assert judge({}, samples, [QUORUM], [], {}, SPANS, injected=False)['verdict'] == 'inconclusive'
    dry = kill(3, dry_run=True)
    failed = kill(3, targets=[dict(id='c1', name='web-1', action='none', error='gone')])
    result = judge({}, samples, [QUORUM], [dry, failed], {}, SPANS)
    assert result['windows'] == [] and result['verdict'] == 'inconclusive'

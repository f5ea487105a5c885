"""What the chaos.engineering.experiment role prints, with Ansible's default callback and its default of showing
skipped tasks: few task headers and skips, one summary line per iteration, and a line every
experiment_progress_interval seconds while it observes the faults. One two-iteration run on a private engine."""
import re

import pytest

from experiment_helpers import (base_vars, bed_client, engine_ip, http_ok, httpd, journal, output, port_base,
                                run_playbook, status)
from helpers import start_containers, wait_until

pytestmark = pytest.mark.integration

# Measured on this run's playbook: 73 task headers and 26 skipped lines before the change, 56 and 5 after (a fault
# is three tasks, not eight; the waits are loops whose steps are lines, not tasks).
MAX_TASKS = 56
MAX_SKIPPED = 5
SUMMARY = re.compile(r'^\s*"msg": "(iteration (\d+) of 2: .*)"$', re.M)
OBSERVE = 'TASK [chaos.engineering.experiment : Observe for experiment_duration seconds'
STEP = re.compile(r'^ok: \[localhost\] => \(item=([\d.]+) of 3\.0 s: (\d+) samples of 1 probes, none failed\)$')


def observe_steps(stdout):
    """The progress lines of each observe phase: [[(seconds, samples), ...], ...]."""
    phases = []
    for block in stdout.split(OBSERVE)[1:]:
        lines = block.split('\n\n', 1)[0].splitlines()[1:]
        phases.append([(float(m.group(1)), int(m.group(2))) for m in map(STEP.match, lines) if m])
    return phases


def test_output_has_few_tasks_one_summary_per_iteration_and_progress(bed, run_id, ledger_dir, tmp_path):
    client = bed_client(bed, 1)
    port = port_base()
    web = httpd(client, run_id, 'web', port=port)
    worker = start_containers(client, run_id, ['worker'])['worker']
    url = 'http://%s:%d/' % (engine_ip(bed, 1), port)
    assert wait_until(lambda: http_ok(url), 20)
    proc = run_playbook('docker_experiment', tmp_path, base_vars(
        bed, 1, tmp_path, ledger_dir, experiment_name='output', experiment_duration=3, experiment_iterations=2,
        experiment_progress_interval=1, experiment_recovery_timeout=20,
        experiment_probes=[dict(name='web', type='http', url=url, timeout=2)],
        experiment_faults=[dict(name='pause worker', module='container_pause', args=dict(names=[worker.name]))]),
        env=dict(ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default', ANSIBLE_DISPLAY_SKIPPED_HOSTS='True'))
    assert proc.returncode == 0, output(proc)
    assert journal(str(tmp_path / 'journal'))['verdict'] == 'passed'
    stdout = proc.stdout
    tasks = re.findall(r'^TASK \[', stdout, re.M)
    skipped = re.findall(r'^skipping: ', stdout, re.M)
    assert len(tasks) <= MAX_TASKS and len(skipped) <= MAX_SKIPPED, (len(tasks), len(skipped), stdout[-6000:])
    # Exactly one summary line per iteration, with the fault and its target, what the probes saw, the revert and
    # the recovery.
    summaries = SUMMARY.findall(stdout)
    assert [number for line, number in summaries] == ['1', '2'], stdout[-6000:]
    for line, number in summaries:
        assert line.startswith('iteration %s of 2: ' % number), line
        assert 'pause worker -> %s |' % worker.name in line, line
        assert re.search(r'\| during: 1 probes, \d+ samples, none failed \|', line), line
        assert '| revert: 1 of 1 done (reverted 1) |' in line and line.endswith('| recovery: -'), line
    # Each observe phase printed a line a second, each further into the 3 s and with more samples, up to the end.
    phases = observe_steps(stdout)
    assert len(phases) == 2, stdout[-6000:]
    for steps in phases:
        assert len(steps) == 3, steps
        assert [at for at, count in steps] == sorted(at for at, count in steps) and steps[-1][0] == 3.0, steps
        counts = [count for at, count in steps]
        assert counts == sorted(counts) and counts[0] < counts[-1], steps
    assert status(worker) == 'running' and status(web) == 'running'

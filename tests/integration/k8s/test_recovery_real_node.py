"""Recovery measured on real readiness (issue 11, items 5 and 6): pods of the real node (tests/infra/node-bed.sh),
whose replacement becomes Ready seconds after a deletion, not 0.1 s as on KWOK.

Each test watches the pods itself (node_helpers.ReadyWatch: the official client every 0.1 s) and compares what
k8s_pod_chaos's wait_for_recovery and the experiment's windows report with when the replacement was Ready. The
deleted pod stays Ready while it terminates (a preStop hook keeps it serving 4 s), so counting it would report
recovery before the replacement exists. Failing assertions show the pods' logs through the API server (item 6:
logs and exec reach the real node's kubelet).

Opt-in like every real-node test: CHAOS_NODE_BED=1 (see conftest.py's real_node).
"""
import datetime
import json
import threading
import time

import pytest
from kubernetes import client

from k8s_helpers import TEST_LABEL, pod_ready, target_uids, wait_for
from node_helpers import ReadyWatch, hello_deployment, pod_exec, pod_logs
from test_experiment_k8s import journal_of, run

pytestmark = [pytest.mark.integration, pytest.mark.k8s, pytest.mark.node_bed]

# The module looks every 0.25 s at most, the watch every 0.1 s, and each look is an API list (tens of ms on a
# loaded 2-core machine): the two clocks of "Ready again" agree within this much.
TOLERANCE = 1.0
# The watch sees a pod Ready at most one interval plus one list after it is: nobody can have seen it earlier.
WATCH_SLACK = 0.4
# The experiment's pods probe samples every 0.5 s.
PROBE_INTERVAL = 0.5


def epoch(text):
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00')).timestamp()


def slow_to_stop(deployment):
    """The deleted pod keeps serving (and so stays Ready) for 4 s after its deletion, as a real app draining."""
    spec = deployment.spec.template.spec
    spec.termination_grace_period_seconds = 10
    spec.containers[0].lifecycle = client.V1Lifecycle(
        pre_stop=client.V1LifecycleHandler(_exec=client.V1ExecAction(command=['/bin/sleep', '4'])))
    return deployment


def patient_probe(deployment):
    """A loaded 2-core machine may answer a readiness probe after its default 1 s timeout: the pod that was not
    deleted must not look lost for that (the watch records it if it still does: unready_seen)."""
    deployment.spec.template.spec.containers[0].readiness_probe.timeout_seconds = 5
    return deployment


def slow_to_start(deployment, seconds=2):
    """A new pod is first probed ``seconds`` after its container started, as an app that warms up: its
    replacement's window is long enough for a probe sampling every 0.5 s to see it several times."""
    deployment.spec.template.spec.containers[0].readiness_probe.initial_delay_seconds = seconds
    return deployment


def wait_hello_ready(api, namespace, replicas):
    def ready():
        items = [p for p in api['core'].list_namespaced_pod(namespace, label_selector='app=hello').items
                 if pod_ready(p)]
        return items if len(items) == replicas else None
    return wait_for('%d hello pods Ready on the real node' % replicas, ready, timeout=120)


def logs_of(api, namespace, watch):
    """Every watched pod's log, for assertion messages."""
    return '\n'.join('--- %s:\n%s' % (rec['name'], pod_logs(api, namespace, rec['name']))
                     for rec in watch.pods.values())


def the_replacement(watch, before, since):
    new = [rec for uid, rec in watch.pods.items() if uid not in before and rec['created'] >= int(since)]
    assert len(new) == 1, (watch.pods, watch.errors)
    assert new[0]['ready_seen'] is not None, ('the watch never saw the replacement Ready', new, watch.errors)
    return new[0]


def test_logs_and_exec_reach_a_real_node_pod(real_node, api, namespace):
    deployment = hello_deployment('hello', real_node, 1)
    deployment.spec.template.spec.containers[0].command = [
        '/bin/sh', '-c', 'echo chaos-log-marker; exec /bin/busybox httpd -f -p 8080 -h /www']
    api['apps'].create_namespaced_deployment(namespace, deployment)
    pod, = wait_hello_ready(api, namespace, 1)
    name = pod.metadata.name
    assert 'chaos-log-marker' in pod_logs(api, namespace, name)
    out, err = pod_exec(api, namespace, name, ['/bin/hostname'])
    assert out.strip() == name, (out, err)


def test_wait_for_recovery_waits_for_the_replacement_to_be_ready(real_node, api, namespace, run_module):
    api['apps'].create_namespaced_deployment(namespace, patient_probe(slow_to_stop(hello_deployment(
        'hello', real_node, 2, labels={TEST_LABEL: 'recovery'}, ready_period=1))))
    before = set(p.metadata.uid for p in wait_hello_ready(api, namespace, 2))
    with ReadyWatch(api, namespace, 'app=hello') as watch:
        result = run_module('k8s_pod_chaos', dict(namespace=namespace, label_selector='app=hello', count=1,
                                                  wait_for_recovery=True, recovery_timeout=90))
    logs = logs_of(api, namespace, watch)
    assert not result.get('failed'), (result, logs)
    deleted, = target_uids(result, 'deleted')
    entry, = result['chaos']['recovery']
    assert entry['recovered'] is True and entry['desired'] == 2 and entry['ready'] == 2, entry
    acted = epoch(result['chaos']['applied_at'])
    module_back = acted + entry['seconds']

    old = watch.pods[deleted]
    assert old['terminating_seen'] is not None, old
    # The deleted pod was Ready while it terminated: counting it would have "recovered" at once.
    assert old['ready_while_terminating'], old
    new = the_replacement(watch, before, acted)
    independent = new['ready_seen'] - acted
    report = dict(module_seconds=entry['seconds'], independent_seconds=round(independent, 3),
                  ready_transition=new['ready_transition'], module_back=module_back, pods=watch.pods, logs=logs)
    # Never recovered before the replacement was Ready: not before its Ready condition's transition (whole
    # seconds, so a lower bound), not before the watch could have seen it.
    assert module_back >= new['ready_transition'], report
    assert module_back >= new['ready_seen'] - WATCH_SLACK, report
    # And not much later: the module's seconds agree with the watch's.
    assert abs(entry['seconds'] - independent) <= TOLERANCE, report
    # A real replacement takes time (a sandbox, its network, the container, a first readiness probe): 0.8 s on
    # an idle machine with the image at hand, seconds under load; KWOK's took 0.1 s.
    assert entry['seconds'] >= 0.3, report


def test_wait_for_recovery_waits_for_a_replacement_not_yet_scheduled(real_node, api, namespace, run_module):
    # The node is cordoned while the pod is deleted: its replacement is Pending, on no node, until it is uncordoned.
    node = real_node['CHAOS_NODE_NAME']
    api['apps'].create_namespaced_deployment(namespace, hello_deployment(
        'hello', real_node, 1, labels={TEST_LABEL: 'unscheduled'}, ready_period=1))
    before = set(p.metadata.uid for p in wait_hello_ready(api, namespace, 1))
    held = dict(pending_seen=None, uncordoned=None)

    def uncordon_later(watch):
        # Once the watch has seen the replacement unscheduled for 2 s, let the scheduler place it.
        try:
            wait_for('the replacement to be Pending', lambda: [
                r for u, r in list(watch.pods.items()) if u not in before and r['scheduled_seen'] is None], timeout=60,
                interval=0.1)
            held['pending_seen'] = time.time()
            time.sleep(2)
        finally:
            api['core'].patch_node(node, {'spec': {'unschedulable': None}})
            held['uncordoned'] = time.time()

    api['core'].patch_node(node, {'spec': {'unschedulable': True}})
    try:
        with ReadyWatch(api, namespace, 'app=hello') as watch:
            helper = threading.Thread(target=uncordon_later, args=(watch,), daemon=True)
            helper.start()
            result = run_module('k8s_pod_chaos', dict(namespace=namespace, label_selector='app=hello', count=1,
                                                      min_healthy=0, wait_for_recovery=True, recovery_timeout=90))
            helper.join(70)
    finally:
        api['core'].patch_node(node, {'spec': {'unschedulable': None}})
    logs = logs_of(api, namespace, watch)
    assert not result.get('failed'), (result, logs)
    assert target_uids(result, 'deleted'), result
    entry, = result['chaos']['recovery']
    assert entry['recovered'] is True and entry['desired'] == 1, entry
    module_back = epoch(result['chaos']['applied_at']) + entry['seconds']
    new = the_replacement(watch, before, epoch(result['chaos']['applied_at']))
    report = dict(module_back=module_back, entry=entry, replacement=new, held=held, logs=logs)
    assert held['uncordoned'] is not None and new['scheduled_seen'] >= held['uncordoned'] - WATCH_SLACK, report
    # Not back while the replacement waited for a node, nor before it was Ready there; then promptly.
    assert module_back >= new['scheduled_seen'] - WATCH_SLACK, report
    assert module_back >= new['ready_seen'] - WATCH_SLACK, report
    assert abs(module_back - new['ready_seen']) <= TOLERANCE, report


def test_experiment_time_to_recover_matches_the_replacement(real_node, api, namespace, run_id, tmp_path):
    api['apps'].create_namespaced_deployment(namespace, patient_probe(slow_to_start(slow_to_stop(hello_deployment(
        'hello', real_node, 2, labels={TEST_LABEL: run_id}, ready_period=1)))))
    before = set(p.metadata.uid for p in wait_hello_ready(api, namespace, 2))
    quorum, both = 'a quorum of hello pods ready', 'both hello pods ready'
    with ReadyWatch(api, namespace, 'app=hello') as watch:
        proc = run('k8s_experiment', tmp_path, dict(
            experiment_kubeconfig=api['kubeconfig'], experiment_name='lose a hello pod on a real node',
            experiment_journal_dir=str(tmp_path / 'journal'), experiment_duration=4,
            experiment_probe_interval=PROBE_INTERVAL, experiment_recovery_timeout=90,
            experiment_abort_on_probe_failure=False,
            experiment_probes=[
                dict(name=quorum, type='pods', namespace=namespace, label_selector='app=hello', min_ready=1),
                # must fail while the deleted pod is replaced: the deviation whose recovery is measured
                dict(name=both, type='pods', namespace=namespace, label_selector='app=hello', min_ready=2)],
            experiment_faults=[dict(name='delete one hello pod', module='k8s_pod_chaos',
                                    args=dict(namespace=namespace, label_selector='app=hello', count=1,
                                              wait_for_recovery=True, recovery_timeout=90))]))
    logs = logs_of(api, namespace, watch)
    output = proc.stdout[-4000:] + proc.stderr[-2000:]
    data = journal_of(tmp_path)
    record = data['hosts']['localhost']
    assert record['verdict'] == 'deviated' and both in record['reason'], (
        record['reason'], record.get('windows'), watch.pods, output, logs)
    fault, = record['faults']
    acted = epoch(fault['applied_at'])
    new = the_replacement(watch, before, acted)
    window, = record['windows']
    probes = dict((p['probe'], p) for p in window['probes'])
    report = json.dumps(dict(window=window, replacement=new, acted=acted, pods=watch.pods), indent=1) + '\n' + logs
    assert window['end_by'] == 'recovered', report
    # The quorum held, on enough samples taken while the pod was being replaced.
    assert probes[quorum]['held'] and probes[quorum]['conclusive'], report
    seen = probes[both]
    assert seen['failed'] >= 1 and seen['time_to_recover'] is not None, report
    # The probe's first good sample after the outage was not before the replacement was Ready...
    back = epoch(seen['recovered_at'])
    assert back >= new['ready_seen'] - WATCH_SLACK, report
    # ...and the outage it measured (deletion to that sample) agrees with the watch's, within one sample.
    outage = seen['time_to_detect'] + seen['time_to_recover']
    assert abs(outage - (new['ready_seen'] - acted)) <= TOLERANCE + PROBE_INTERVAL, report
    # The window itself ends when the module saw the workload back, which the watch agrees with.
    assert abs(epoch(window['ended_at']) - new['ready_seen']) <= TOLERANCE, report

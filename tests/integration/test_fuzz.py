"""Property-based fuzzing: every module's main(), in-process, with random and hostile arguments.

The property: no traceback, whatever the input; and a run that failed changed nothing (our containers' states,
pauses and labels, our helpers, the targets' qdiscs and iptables rules, the ledger, the journal's files).
Against a real engine of the bed (targets are containers this test creates, always selected by their own label)
and against engines and Kubernetes APIs that cannot be reached.

CI runs a few dozen derandomized examples per module. Environment:
  CHAOS_FUZZ_PROFILE   ci (default: derandomized), seeded (random; use pytest --hypothesis-seed=N), campaign
  CHAOS_FUZZ_EXAMPLES  examples per test (default 25; campaign 2000)
  CHAOS_FUZZ_REPORT    a file: record every bad example there as a JSON line instead of failing at the first
                       (bench/fuzz counts them)
"""
import hashlib
import json
import os

import docker
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_support import (FUZZ_LABEL, HELPER_LABEL, TARGET_LABEL, UNREACHABLE_DOCKER, UNREACHABLE_K8S, URLS,
                          bad_outcome, hostile, ledger_pending, option_value, options_strategy, run_main, snapshot,
                          stop_reverter, traceback_origin)
from helpers import BUSYBOX, TEST_LABEL

pytestmark = pytest.mark.integration

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                      HealthCheck.data_too_large, HealthCheck.filter_too_much])
_EXAMPLES = os.environ.get('CHAOS_FUZZ_EXAMPLES')
settings.register_profile('ci', max_examples=int(_EXAMPLES or 25), derandomize=True, **_COMMON)
settings.register_profile('seeded', max_examples=int(_EXAMPLES or 25), **_COMMON)
settings.register_profile('campaign', max_examples=int(_EXAMPLES or 2000), **_COMMON)
PROFILE = settings.get_profile(os.environ.get('CHAOS_FUZZ_PROFILE', 'ci'))

TARGETS = 2
DOCKER_MODULES = ('container_pause', 'container_kill', 'container_netem')
K8S_MODULES = ('k8s_pod_chaos', 'k8s_agent')
# Valid values above these would only make a run slow (a kill that waits for a recovery, a probe that samples for an
# hour): they are lowered to these. Out-of-range values are left alone: they must fail clearly.
SLOW = dict(stop_timeout=1, restart_after=2, recovery_timeout=4, timeout=15, wait_timeout=3)
SLOW_PROBE = dict(duration=1.5, interval=0.5, timeout=15)
WEEK = 7 * 24 * 3600


def _number(value):
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def tame(args, caps):
    # CHAOS_FUZZ_TAME_ALL=1 lowers huge values too: for measuring code that does not bound them (and then hangs).
    ceiling = float('inf') if os.environ.get('CHAOS_FUZZ_TAME_ALL') else WEEK
    for key, cap in caps.items():
        number = _number(args.get(key))
        if number is not None and cap < number <= ceiling:
            args[key] = type(cap)(cap) if not isinstance(args[key], str) else str(cap)
    return args


def argument_spec_of(name):
    """The module's whole argument spec, caught as main() hands it to AnsibleModule."""
    from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel
    from fuzz_support import PACKAGE, importlib  # pylint: disable=import-outside-toplevel

    class Caught(Exception):
        pass

    caught = {}
    real = basic.AnsibleModule.__init__

    def init(self, argument_spec, *args, **kwargs):
        caught.update(argument_spec)
        raise Caught()
    basic.AnsibleModule.__init__ = init
    try:
        importlib.import_module(PACKAGE + name).main()
    except Caught:
        pass
    finally:
        basic.AnsibleModule.__init__ = real
    return caught


class Verdicts:
    """Fails the test at the first bad example, or (CHAOS_FUZZ_REPORT) records every one."""

    def __init__(self):
        self.report = os.environ.get('CHAOS_FUZZ_REPORT')

    def bad(self, module, args, why, origin='ours'):
        if not self.report:
            if origin == 'ansible-core':
                # ansible-core's own argument validation raised (for example set_fallbacks on a number given for
                # options with sub-options): not ours to fix; bench/fuzz lists them.
                return
            raise AssertionError('%s with %r: %s' % (module, args, why))
        with open(self.report, 'a') as handle:
            handle.write(json.dumps(dict(module=module, args=args, why=why, origin=origin), default=repr) + '\n')

    def example(self, module, args, outcome, before=None, after=None):
        """Count the example; check it for a traceback and for a change made by a failed run."""
        if self.report:
            with open(self.report + '.count', 'a') as handle:
                handle.write(module + '\n')
        why = bad_outcome(outcome)
        if why:
            self.bad(module, args, why, traceback_origin(why))
        elif outcome.failed and before is not None and after != before:
            self.bad(module, args, 'a failed run (%s) changed the engine: before %r, after %r' % (
                outcome.result.get('msg'), before, after), 'change')


@pytest.fixture
def verdicts():
    return Verdicts()


@pytest.fixture
def no_k8s_env(monkeypatch, tmp_path):
    """Kubernetes configuration that can only point at a closed loopback port."""
    for var in list(os.environ):
        if var.startswith('K8S_AUTH_') or var in ('KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT'):
            monkeypatch.delenv(var)
    kubeconfig = tmp_path / 'kubeconfig'
    kubeconfig.write_text(json.dumps(dict(
        apiVersion='v1', kind='Config', clusters=[dict(name='c', cluster=dict(server='https://127.0.0.1:1'))],
        users=[dict(name='u', user=dict(token='fuzz'))],
        contexts=[dict(name='x', context=dict(cluster='c', user='u'))], **{'current-context': 'x'})))
    monkeypatch.setenv('KUBECONFIG', str(kubeconfig))
    monkeypatch.setenv('HOME', str(tmp_path))
    return str(kubeconfig)


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """Relative paths land in the test's directory; no DOCKER_* from the caller's environment."""
    for var in list(os.environ):
        if var.startswith('DOCKER_') or var == 'CHAOS_LEDGER_DIR':
            monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    return tmp_path


class Targets:
    """Our own containers on one engine, restored to TARGETS running ones after every example."""

    def __init__(self, host, run_id, ledger_dir):
        self.host = host
        self.run_id = run_id
        self.ledger_dir = ledger_dir
        self.api = docker.APIClient(base_url=host)
        self.client = docker.DockerClient(base_url=host)
        self.made = 0
        self.restore()

    @property
    def labels(self):
        return {FUZZ_LABEL: self.run_id}

    def ours(self):
        return self.client.containers.list(all=True, filters={'label': '%s=%s' % (FUZZ_LABEL, self.run_id)})

    def snapshot(self):
        return snapshot(self.api, self.run_id, [self.ledger_dir], network=True)

    def cleanup(self):
        """Undo whatever a valid run did: revert the ledger, restart, remove our netem faults and helpers."""
        if ledger_pending(self.ledger_dir):
            run_main('ledger', dict(ledger_dir=self.ledger_dir, state='reverted'))
        stop_reverter(self.ledger_dir)
        self.restore()
        run_main('container_netem', dict(state='absent', docker_host=self.host, labels=self.labels,
                                         ledger_dir=self.ledger_dir, method='nsenter', allow_no_targets=True))
        ids = set(c.id for c in self.ours())
        for helper in self.api.containers(all=True, filters={'label': HELPER_LABEL + '=true'}):
            if (helper.get('Labels') or {}).get(TARGET_LABEL) in ids:
                self.api.remove_container(helper['Id'], force=True)

    def restore(self):
        running = 0
        for container in self.ours():
            if container.status == 'paused':
                container.unpause()
            elif container.status != 'running':
                container.start()
            running += 1
        for dummy in range(TARGETS - running):
            self.made += 1
            self.client.containers.run(BUSYBOX, ['sleep', '3600'], detach=True,
                                       name='fuzz-%s-%d' % (self.run_id, self.made),
                                       labels={TEST_LABEL: self.run_id, FUZZ_LABEL: self.run_id})


@pytest.fixture
def targets(bed, run_id, ledger_dir):
    made = Targets(bed['hosts'][0], run_id, ledger_dir)
    yield made
    made.cleanup()
    stop_reverter(ledger_dir)


def docker_args_strategy(name, fixed, drop_slow=True):
    spec = argument_spec_of(name)
    # Extra labels next to ours only narrow the selection.
    labels = st.dictionaries(st.text(max_size=4), st.one_of(st.text(max_size=3), st.none(), hostile()), max_size=2)
    strategy = st.tuples(options_strategy(spec, fixed=fixed, omit=('docker_host', 'labels', 'ledger_dir')), labels)

    def build(pair):
        args, extra = pair
        all_labels = dict(extra)
        all_labels.update(fixed['labels'])
        args['labels'] = all_labels
        return tame(args, SLOW) if drop_slow else args
    return strategy.map(build)


@pytest.mark.parametrize('name', DOCKER_MODULES)
def test_docker_modules_on_a_real_engine(name, targets, isolated, verdicts):
    """Random arguments against our own containers on a real engine; a valid run's fault is undone after it."""
    fixed = dict(docker_host=targets.host, labels=targets.labels, ledger_dir=targets.ledger_dir)

    @PROFILE
    @given(args=docker_args_strategy(name, fixed), check_mode=st.booleans())
    def run(args, check_mode):
        before = targets.snapshot()
        outcome = run_main(name, args, check_mode=check_mode)
        after = targets.snapshot()
        try:
            verdicts.example(name, args, outcome, before, after)
            if check_mode and after != before:
                verdicts.bad(name, args, 'check mode changed the engine', 'change')
        finally:
            targets.cleanup()
    run()


@pytest.mark.parametrize('name', DOCKER_MODULES + ('probe',))
def test_docker_modules_with_an_unreachable_engine(name, isolated, ledger_dir, verdicts, no_k8s_env):
    """Nothing answers at docker_host: a clear failure (never a traceback), and nothing armed in the ledger."""
    fixed = dict(labels={FUZZ_LABEL: 'nothing-has-this'}, ledger_dir=ledger_dir)
    hosts = st.sampled_from(UNREACHABLE_DOCKER)
    if name == 'probe':
        strategy = probe_args_strategy(hosts, ledger_dir)
    else:
        strategy = st.tuples(docker_args_strategy(name, fixed), hosts).map(lambda p: dict(p[0], docker_host=p[1]))

    @PROFILE
    @given(args=strategy)
    def run(args):
        outcome = run_main(name, args)
        verdicts.example(name, args, outcome, dict(ledger=[]), dict(ledger=ledger_pending(ledger_dir)))
        if not outcome.failed and name != 'probe':
            verdicts.bad(name, args, 'succeeded against an unreachable engine: %r' % (outcome.result,), 'change')
    run()
    stop_reverter(ledger_dir)


def kubeconfig_values(path):
    return st.one_of(st.none(), st.just(path), st.sampled_from(['/nonexistent/kubeconfig', '', '~/missing']),
                     hostile(), st.dictionaries(st.sampled_from(['clusters', 'users', 'contexts', 'current-context',
                                                                 'apiVersion', 'kind']), hostile(), max_size=4))


@pytest.mark.parametrize('name', K8S_MODULES)
def test_k8s_modules_with_an_unreachable_api(name, isolated, no_k8s_env, verdicts):
    spec = argument_spec_of(name)
    strategy = st.tuples(options_strategy(spec, omit=('kubeconfig', 'host', 'proxy', 'no_proxy')),
                         kubeconfig_values(no_k8s_env), st.one_of(st.none(), st.sampled_from(UNREACHABLE_K8S)),
                         st.sampled_from([None, 'http://127.0.0.1:1', 'garbage', ''])).map(
        lambda p: tame(dict(p[0], kubeconfig=p[1], host=p[2], proxy=p[3]), SLOW))

    @PROFILE
    @given(args=strategy, check_mode=st.booleans())
    def run(args, check_mode):
        outcome = run_main(name, args, check_mode=check_mode)
        verdicts.example(name, args, outcome)
        if not outcome.failed:
            verdicts.bad(name, args, 'succeeded against an unreachable API: %r' % (outcome.result,), 'change')
    run()


# --- experiment_journal: nested records --------------------------------------------------------------------------

TIMES = st.one_of(st.sampled_from(['2026-12-01T10:00:00Z', '2026-12-01T10:00:05.5Z', '2026-12-01 10:00:09+01:00',
                                   '9999-12-31T23:59:59Z', '0000-01-01T00:00:00Z', '2026-13-45T99:99:99Z']),
                  st.floats(), st.integers(), hostile())
LEAF = st.one_of(st.text(max_size=6), hostile())


def _record_of(keys):
    return st.fixed_dictionaries({}, optional=keys)


TARGET = st.one_of(_record_of(dict(id=LEAF, name=LEAF, error=LEAF, action=LEAF, deadline=TIMES,
                                   owner=st.one_of(_record_of(dict(kind=LEAF, namespace=LEAF, name=LEAF)), LEAF))),
                   LEAF)
FAULT = _record_of(dict(fault=LEAF, targets=st.one_of(st.lists(TARGET, max_size=3), LEAF), started_at=TIMES,
                        finished_at=TIMES, expires_at=TIMES, dry_run=LEAF, failed=LEAF, msg=LEAF, error=LEAF,
                        revert=st.one_of(_record_of(dict(deadline=TIMES, method=LEAF, armed=LEAF)), LEAF),
                        recovery=LEAF, selection=LEAF))
SAMPLE = _record_of(dict(probe=LEAF, phase=st.one_of(st.sampled_from(['before', 'during', 'after']), LEAF),
                         ok=LEAF, at=TIMES, value=st.one_of(st.floats(), LEAF), detail=LEAF, type=LEAF))
RECOVERY = _record_of(dict(what=LEAF, seconds=st.one_of(st.floats(), LEAF), recovered=LEAF, at=TIMES, since=TIMES,
                           started_at=TIMES))
SKIPPED = st.one_of(
    _record_of(dict(what=LEAF, reason=LEAF, at=TIMES, name=LEAF, iteration=st.one_of(st.integers(), LEAF))), LEAF)
COUNT = st.one_of(st.integers(), st.floats(), LEAF)
PHASE = st.one_of(_record_of(dict(phase=st.one_of(st.sampled_from(['before', 'during', 'after']), LEAF), start=TIMES,
                                  end=TIMES)), LEAF)
WINDOW_PROBE = st.one_of(_record_of(dict(probe=LEAF, samples=COUNT, failed=COUNT, min_samples=COUNT, held=LEAF,
                                         conclusive=LEAF, detected_at=TIMES, time_to_detect=COUNT, recovered_at=TIMES,
                                         time_to_recover=COUNT)), LEAF)
WINDOW = st.one_of(_record_of(dict(name=LEAF, fault=LEAF, iteration=COUNT, targets=st.one_of(st.lists(LEAF, max_size=2), LEAF),
                                   applied_at=TIMES, ended_at=TIMES, end_by=LEAF, seconds=COUNT,
                                   probes=st.one_of(st.lists(WINDOW_PROBE, max_size=2), LEAF))), LEAF)
SUMMARY = st.one_of(_record_of(dict(probe=LEAF, type=LEAF, unit=LEAF,
                                    threshold=st.one_of(_record_of(dict(op=st.one_of(st.sampled_from(['>=', '<=']), LEAF),
                                                                        value=COUNT)), LEAF),
                                    judged_in=st.one_of(st.lists(LEAF, max_size=2), LEAF),
                                    phases=st.one_of(st.dictionaries(st.sampled_from(['before', 'during', 'x']),
                                                                     st.one_of(_record_of(dict(samples=COUNT, failed=COUNT)),
                                                                               LEAF), max_size=2), LEAF))), LEAF)
RECORD = st.one_of(
    st.fixed_dictionaries(dict(verdict=st.one_of(st.sampled_from(['passed', 'inconclusive', 'deviated', 'aborted']), LEAF)),
                          optional=dict(started_at=TIMES, finished_at=TIMES, reason=LEAF,
                                        faults=st.one_of(st.lists(st.one_of(FAULT, st.fixed_dictionaries(
                                            dict(chaos=FAULT)), LEAF), max_size=3), LEAF),
                                        probes=st.one_of(st.lists(st.one_of(SAMPLE, LEAF), max_size=4), LEAF),
                                        recovery=st.one_of(st.lists(st.one_of(RECOVERY, LEAF), max_size=3), LEAF),
                                        skipped=st.one_of(st.lists(SKIPPED, max_size=2), LEAF),
                                        halted=LEAF, phases=st.one_of(st.lists(PHASE, max_size=3), LEAF),
                                        windows=st.one_of(st.lists(WINDOW, max_size=2), LEAF),
                                        probe_summary=st.one_of(st.lists(SUMMARY, max_size=2), LEAF),
                                        environment=st.one_of(st.dictionaries(st.text(max_size=4), LEAF, max_size=2),
                                                              LEAF))),
    hostile())


def _files(root):
    found = {}
    for directory, dummy, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, 'rb') as handle:
                found[os.path.relpath(path, root)] = hashlib.sha256(handle.read()).hexdigest()
    return found


def test_experiment_journal(isolated, verdicts):
    root = isolated / 'journals'
    root.mkdir()
    (root / 'a-file').write_text('not a directory')
    paths = st.sampled_from([str(root / 'run'), str(root / 'run'), str(root / 'a-file'), str(root / 'a-file' / 'x'),
                             str(root / 'deep' / 'er'), 'relative', ''])
    strategy = st.fixed_dictionaries(dict(path=paths, run_id=st.one_of(st.sampled_from(['r1', 'r2']), LEAF),
                                          host=st.one_of(st.sampled_from(['web-1', 'db-1']), LEAF), record=RECORD),
                                     optional=dict(experiment=st.one_of(st.dictionaries(st.text(max_size=4), LEAF,
                                                                                        max_size=3), LEAF)))

    @PROFILE
    @given(args=strategy, check_mode=st.booleans())
    def run(args, check_mode):
        before = _files(str(isolated))
        outcome = run_main('experiment_journal', args, check_mode=check_mode)
        after = _files(str(isolated))
        verdicts.example('experiment_journal', args, outcome, before, after)
        if check_mode and after != before:
            verdicts.bad('experiment_journal', args, 'check mode wrote files', 'change')
    run()


# --- probe: nested probe specs -----------------------------------------------------------------------------------

# Valid, invalid, and valid but failing at evaluation (length of a string is fine; of a number it is not).
JSON_QUERIES = ['status', 'a[', 'nofunc(@)', 'length(@)', "a[?b=='c'] | [0]", '']
JSON_RANGE = st.one_of(st.lists(st.one_of(st.none(), st.floats(), LEAF), max_size=3), LEAF)


def probe_args_strategy(docker_hosts, ledger_dir):
    spec = argument_spec_of('probe')
    pattern = st.one_of(st.sampled_from(['(', '.*', 'web']), LEAF)
    labels = st.one_of(st.dictionaries(st.text(max_size=3), LEAF, max_size=2), LEAF)
    selection = st.one_of(_record_of(dict(names=LEAF, name_pattern=pattern, labels=labels, exclude_labels=LEAF)),
                          LEAF)
    one = st.one_of(
        _record_of(dict(name=st.one_of(st.sampled_from(['a', 'b']), LEAF), type=st.sampled_from(['http', 'x']),
                        url=st.one_of(st.sampled_from(URLS), hostile()), method=LEAF, status=LEAF, latency_ms=LEAF,
                        timeout=st.one_of(st.sampled_from([0.2, 1, 0, -1, 1e20, float('nan')]), hostile()),
                        validate_certs=LEAF, json_query=st.one_of(st.sampled_from(JSON_QUERIES), LEAF),
                        json_equals=LEAF, json_range=JSON_RANGE)),
        _record_of(dict(name=st.one_of(st.sampled_from(['a', 'b']), LEAF), type=st.just('containers'),
                        selection=selection, min_running=LEAF)),
        _record_of(dict(name=st.one_of(st.sampled_from(['a', 'b']), LEAF), type=st.just('pods'), namespace=LEAF,
                        label_selector=LEAF, min_ready=LEAF)),
        LEAF)
    omit = ('docker_host', 'kubeconfig', 'host', 'proxy', 'no_proxy', 'probes', 'ledger_dir')
    return st.tuples(options_strategy(spec, omit=omit), st.one_of(st.lists(one, max_size=3), hostile()),
                     docker_hosts, st.one_of(st.none(), st.sampled_from(UNREACHABLE_K8S))).map(
        lambda p: tame(dict(p[0], probes=p[1], docker_host=p[2], host=p[3], ledger_dir=ledger_dir), SLOW_PROBE))


def test_probe_on_a_real_engine(bed, isolated, ledger_dir, no_k8s_env, verdicts):
    """The probe only reads: containers from a real engine, HTTP from closed loopback ports, pods from nowhere."""
    @PROFILE
    @given(args=probe_args_strategy(st.just(bed['hosts'][0]), ledger_dir))
    def run(args):
        verdicts.example('probe', args, run_main('probe', args))
    run()


def test_ledger_module(bed, isolated, ledger_dir, verdicts):
    spec = argument_spec_of('ledger')
    strategy = options_strategy(spec, fixed=dict(ledger_dir=ledger_dir))

    @PROFILE
    @given(args=strategy, check_mode=st.booleans())
    def run(args, check_mode):
        verdicts.example('ledger', args, run_main('ledger', args, check_mode=check_mode))
    run()


def test_option_values_cover_hostile_shapes():
    """The strategies can draw what the fuzzer is for (a guard against a strategy that cannot find anything)."""
    seen = set()

    @settings(max_examples=300, derandomize=True, database=None)
    @given(value=option_value(dict(type='int')))
    def run(value):
        seen.add(type(value).__name__)
    run()
    assert set(['int', 'NoneType', 'str', 'list', 'dict', 'float']) <= seen

"""Property-based fuzzing of the modules' main(), in-process: strategies, the runner and the checks.

Used by tests/integration/test_fuzz.py (a few dozen examples per module, for CI) and bench/fuzz (a long
campaign). A run is bad when main() raises (a traceback in a real play), or when a run that failed changed
something on the engine (container state, labels, helpers, the target's qdiscs and iptables rules, the
ledger).

Safety: every Docker selection carries this run's own label, so it can only ever hit containers the fuzzer
created; docker_host is always given (the bed's engine or an address that cannot answer); every path is in a
temporary directory; URLs and Kubernetes hosts come from fixed lists of loopback addresses nothing listens on.
"""
import contextlib
import importlib
import io
import json
import os
import signal
import subprocess
import traceback

from hypothesis import strategies as st

PACKAGE = 'ansible_collections.chaos.engineering.plugins.modules.'
FUZZ_LABEL = 'chaos.engineering/fuzz-run'
HELPER_LABEL = 'chaos.engineering/helper'
TARGET_LABEL = 'chaos.engineering/target'

# Addresses where nothing answers: a closed loopback port, a socket that does not exist, nonsense.
UNREACHABLE_DOCKER = ['unix:///nonexistent/chaos-fuzz/docker.sock', 'tcp://127.0.0.1:1', 'http://127.0.0.1:1',
                      'unix://', '', 'garbage', 'tcp://127.0.0.1:99999', 'ssh://127.0.0.1:1', 'npipe:////./pipe/x',
                      'https://127.0.0.1:1']
UNREACHABLE_K8S = ['https://127.0.0.1:1', 'http://127.0.0.1:1', 'https://[::1]:1', 'not a url', '',
                   'https://127.0.0.1:99999', 'ftp://127.0.0.1:1']
URLS = ['http://127.0.0.1:1/', 'https://127.0.0.1:1/health', 'http://[::1]:1', 'http://localhost:1/x', 'ftp://x',
        'http://', '', 'http:// space', 'https://127.0.0.1:1/' + u'\u00e9']

HOSTILE_SCALARS = [None, 0, -1, 1, 2 ** 31, 2 ** 63, -2 ** 63, 10 ** 20, 1e20, -1e20, 1e308, 0.5, -0.0, 1e-9,
                   float('inf'), float('-inf'), float('nan'), True, False, '', ' ', 'x', '0', '-5', '1e20', 'inf',
                   'nan', '3.7', u'\U0001f642', u'\u00e9t\u00e9', '\x00', 'a' * 300, '{{ x }}', '$(id)', '%s%d',
                   '[1, 2]', '{"a": 1}', 'yes', 'null']


def hostile():
    """Any value of any shape: the wrong type, out of range, empty, unicode, nested."""
    scalar = st.one_of(st.sampled_from(HOSTILE_SCALARS), st.integers(), st.floats(), st.text(max_size=6))
    return st.one_of(scalar, scalar, st.lists(scalar, max_size=3),
                     st.dictionaries(st.text(max_size=4), scalar, max_size=3),
                     st.lists(st.lists(scalar, max_size=2), max_size=2))


def _valid_int():
    return st.one_of(st.integers(min_value=1, max_value=10), st.integers(min_value=1, max_value=10),
                     st.sampled_from([0, -1, 2 ** 31, 10 ** 20]), st.integers(min_value=-2 ** 64, max_value=2 ** 64))


def valid_for(spec):
    """Values of the option's declared type (not always in range: that is the point)."""
    if spec.get('choices'):
        return st.sampled_from(list(spec['choices']))
    kind = spec.get('type', 'str')
    if kind == 'int':
        return _valid_int()
    if kind == 'float':
        return st.one_of(_valid_int(), st.floats(min_value=-10, max_value=200), st.floats())
    if kind == 'bool':
        return st.booleans()
    if kind == 'list':
        element = valid_for(dict(type=spec.get('elements', 'str'), options=spec.get('options')))
        return st.lists(element, max_size=3)
    if kind == 'dict':
        if spec.get('options'):
            return options_strategy(spec['options'])
        return st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), st.none()), max_size=3)
    if kind in ('str', 'path', 'raw'):
        return st.one_of(st.text(max_size=10), st.sampled_from(['a', '1', '10s', '100ms', '1mbit', 'eth0', '10.0.0.0/8']))
    return hostile()


def option_value(spec):
    """Mostly the declared type (any value of it), sometimes hostile: one bad option at a time finds more than
    many, which the first check rejects together."""
    # A non-dict for options with sub-options makes ansible-core's own validator raise (set_fallbacks): rarely.
    odds = 20 if spec.get('options') else 5
    return st.integers(0, odds).flatmap(lambda pick: hostile() if pick == 0 else valid_for(spec))


def options_strategy(spec, fixed=None, omit=()):
    """A dict of some of ``spec``'s options (each drawn or left out), then ``fixed`` on top."""
    names = sorted(k for k in spec if k not in omit and k not in (fixed or {}))

    @st.composite
    def draw(draw_):
        args = {}
        for name in names:
            if draw_(st.integers(0, 3)) == 0:  # a quarter of the options are given
                args[name] = draw_(option_value(spec[name]))
        args.update(fixed or {})
        return args
    return draw()


# --- Running main() in-process -------------------------------------------------------------------------------

class Outcome:
    def __init__(self, result, error=None):
        self.result = result or {}
        self.error = error  # the formatted traceback of an exception main() let through

    @property
    def failed(self):
        return self.error is not None or bool(self.result.get('failed'))

    @property
    def changed(self):
        return bool(self.result.get('changed'))


def run_main(name, args, check_mode=False):
    """Run chaos.engineering.<name>'s main() with ``args`` as the module args; an Outcome."""
    from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel
    module = importlib.import_module(PACKAGE + name)
    args = dict(args)
    if check_mode:
        args['_ansible_check_mode'] = True
    out = io.StringIO()
    error = None
    with patch_module_args(args), contextlib.redirect_stdout(out):
        try:
            module.main()
        except SystemExit:
            pass
        except Exception:  # pylint: disable=broad-exception-caught
            error = traceback.format_exc()
    text = out.getvalue().strip()
    result = {}
    if text:
        try:
            result = json.loads(text.splitlines()[-1])
        except ValueError:
            result = dict(failed=True, msg='unparsable module output: %r' % text[-500:])
    return Outcome(result, error)


def traceback_origin(text):
    """'ansible-core' when the exception rose inside ansible-core's own argument validation, else 'ours'."""
    frames = [line.strip() for line in text.splitlines() if line.strip().startswith('File "')]
    ours = [i for i, f in enumerate(frames) if '/ansible_collections/chaos/engineering/' in f]
    if ours:
        after = frames[ours[-1] + 1:]
        if after and all('/ansible/module_utils/' in f for f in after) and any(
                'basic.py' in f and '__init__' in f for f in after[:1]):
            return 'ansible-core'
    return 'ours'


def bad_outcome(outcome):
    """Why this outcome is a traceback, or None."""
    if outcome.error:
        return outcome.error
    if outcome.result.get('exception') and 'missing_required_lib' not in str(outcome.result.get('msg')):
        return 'result with exception: %s' % outcome.result.get('exception')
    return None


# --- The engine's state, before and after ---------------------------------------------------------------------

def _netns_state(pid):
    """The target's qdiscs and iptables rules, read from the host (root) in its network namespace."""
    out = []
    for argv in (['tc', 'qdisc', 'show'], ['iptables', '-w', '-S'], ['ip6tables', '-w', '-S']):
        proc = subprocess.run(['nsenter', '-t', str(pid), '-n', '--'] + argv, capture_output=True, text=True,
                              check=False, timeout=30)
        out.append(proc.stdout)
    return tuple(out)


def ledger_pending(ledger_dir):
    directory = os.path.join(ledger_dir, 'pending')
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def snapshot(client, run_label, ledger_dirs=(), network=False):
    """What a failed run must not have changed: our containers, our helpers, their network state, the ledger."""
    containers = {}
    ids = set()
    for summary in client.containers(all=True, filters={'label': '%s=%s' % (FUZZ_LABEL, run_label)}):
        inspect = client.inspect_container(summary['Id'])
        state = inspect['State']
        ids.add(summary['Id'])
        entry = dict(name=inspect['Name'], status=state['Status'], paused=state['Paused'],
                     started=state['StartedAt'], labels=inspect['Config']['Labels'])
        if network and state['Running'] and state['Pid']:
            entry['net'] = _netns_state(state['Pid'])
        containers[summary['Id']] = entry
    helpers = sorted(h['Id'] for h in client.containers(all=True, filters={'label': HELPER_LABEL + '=true'})
                     if (h.get('Labels') or {}).get(TARGET_LABEL) in ids)
    return dict(containers=containers, helpers=helpers,
                ledger=dict((d, ledger_pending(d)) for d in ledger_dirs))


def stop_reverter(ledger_dir):
    """Stop the reverter of this ledger, if one runs (only ours: its pid file is in our temporary ledger)."""
    pid_file = os.path.join(ledger_dir, 'reverter.pid')
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass

"""Helpers shared by the integration tests (imported by conftest.py and the tests)."""
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BED = os.path.join(ROOT, 'tests', 'infra', 'docker-bed.sh')
TLS_BED = os.path.join(ROOT, 'tests', 'infra', 'tls-bed.sh')
COLLECTIONS = os.path.join(ROOT, 'build', 'collections')
BUSYBOX = 'chaos-busybox:latest'
TEST_LABEL = 'chaos.engineering/test-run'


def start_containers(client, run_id, names, labels=None, command=('sleep', '3600'), **kwargs):
    """Start busybox containers labelled for this test; returns them by name."""
    started = {}
    for name in names:
        all_labels = {TEST_LABEL: run_id}
        all_labels.update(labels or {})
        started[name] = client.containers.run(BUSYBOX, list(command), name='%s-%s' % (name, run_id), detach=True,
                                              labels=all_labels, **kwargs)
    return started


def status_of(client, container):
    container.reload()
    return container.status


def playbook_env(extra=None):
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_HOST_KEY_CHECKING='False',
               ANSIBLE_RETRY_FILES_ENABLED='False', ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='False',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='False', ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    env.update(extra or {})
    return env


def ansible_playbook_argv(playbook, extra_vars, inventory=None, check=False):
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), playbook,
            '-e', '@' + extra_vars]
    argv += ['-i', inventory] if inventory else ['-i', 'localhost,', '-c', 'local']
    if check:
        argv.append('--check')
    return argv


def run_module_play(tmp_path, module, args, group=None, connection=None, hosts='localhost', inventory=None,
                    check=False, diff=False, env=None, timeout=300):
    """Run chaos.engineering.<module> with ``args`` in a one-task playbook on ``hosts`` and return its registered
    result (failed or not). With ``group``, its connection comes from ``module_defaults:
    group/chaos.engineering.<group>: connection``."""
    result_file = str(tmp_path / ('result-%s.json' % uuid.uuid4().hex[:6]))
    play = dict(name='Run one chaos.engineering module', hosts=hosts, gather_facts=False, tasks=[
        {'name': 'The module under test', 'chaos.engineering.' + module: None, 'args': '{{ module_args }}',
         'register': 'outcome', 'ignore_errors': True},
        {'name': 'Keep the result for the test', 'delegate_to': 'localhost', 'check_mode': False,
         'ansible.builtin.copy': dict(content='{{ outcome | to_json }}', dest='{{ result_file }}', mode='0600')}])
    if group:
        play['module_defaults'] = {'group/chaos.engineering.' + group: '{{ connection }}'}
    playbook = str(tmp_path / 'play.yml')
    with open(playbook, 'w') as handle:
        json.dump([play], handle)  # JSON is YAML
    extra = str(tmp_path / 'vars.json')
    with open(extra, 'w') as handle:
        json.dump(dict(connection=connection, module_args=args, result_file=result_file), handle)
    argv = ansible_playbook_argv(playbook, extra, inventory=inventory, check=check) + (['--diff'] if diff else [])
    proc = subprocess.run(argv, capture_output=True, text=True, env=env or playbook_env(), cwd=str(tmp_path),
                          timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    with open(result_file) as handle:
        return json.load(handle)


def run_plays(tmp_path, plays, timeout=300, env=None):
    """ansible-playbook on these plays (dicts), with no extra vars, on localhost; returns the CompletedProcess.
    ``env``: the whole environment of the run (default: playbook_env())."""
    playbook = str(tmp_path / ('plays-%s.yml' % uuid.uuid4().hex[:6]))
    with open(playbook, 'w') as handle:
        json.dump(plays, handle)  # JSON is YAML
    extra = str(tmp_path / 'no-vars.json')
    with open(extra, 'w') as handle:
        json.dump({}, handle)
    return subprocess.run(ansible_playbook_argv(playbook, extra), capture_output=True, text=True,
                          env=env or playbook_env(), cwd=str(tmp_path), timeout=timeout, check=False)


def write(path, text):
    with open(path, 'w') as handle:
        handle.write(textwrap.dedent(text))
    return path


def start_fault_play(tmp_path, module, fault_args):
    """Start ansible-playbook running chaos.engineering.<module> with ``fault_args``, in the background and in its
    own session (for kill_controller); returns the Popen."""
    playbook = str(tmp_path / ('fault-%s.yml' % uuid.uuid4().hex[:6]))
    play = dict(name='A fault whose controller may be killed', hosts='localhost', gather_facts=False,
                tasks=[{'name': 'The fault', 'chaos.engineering.' + module: '{{ fault_args }}'}])
    with open(playbook, 'w') as handle:
        json.dump([play], handle)  # JSON is YAML
    extra = playbook[:-len('.yml')] + '.json'
    with open(extra, 'w') as handle:
        json.dump(dict(fault_args=fault_args), handle)
    return subprocess.Popen(ansible_playbook_argv(playbook, extra), env=playbook_env(), cwd=str(tmp_path),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def done_entries(ledger_dir):
    """The ledger's done entries (reverted, or closed otherwise), in file-name order."""
    directory = os.path.join(ledger_dir, 'done')
    entries = []
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        with open(os.path.join(directory, name)) as handle:
            entries.append(json.load(handle))
    return entries


def wait_until(predicate, timeout, interval=0.05):
    """Poll until predicate() is true; returns the time it became true, or None."""
    give_up = time.time() + timeout
    while time.time() < give_up:
        if predicate():
            return time.time()
        time.sleep(interval)
    return None


def parse_iso(text):
    """Epoch seconds from an ISO-8601 UTC time, ours (milliseconds, Z) or Docker's (nanoseconds, Z)."""
    match = re.match(r'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$', text)
    whole = datetime.datetime.strptime(match.group(1), '%Y-%m-%dT%H:%M:%S').replace(tzinfo=datetime.timezone.utc)
    return whole.timestamp() + float('0.' + (match.group(2) or '0'))


def engine_events(client, container, since, action):
    """Epoch times of the engine's own ``action`` events (pause, unpause, die, start) for a container since then."""
    events = client.api.events(since=int(since) - 1, until=int(time.time()) + 1, decode=True,
                               filters={'container': container.id, 'event': action})
    return [e['timeNano'] / 1e9 for e in events if e['timeNano'] / 1e9 >= since]


class ListingWatch:
    """Polls the engine's running listing for one container in a thread, as the probes see it.

    An engine stamps the die event before its listing stops showing the container: Docker releases the network and
    unmounts in between, which took 150 ms under CI load. ``gone_by()`` is the end of the first poll that found the
    container gone from the listing, so every listing begun after it sees the container gone.
    """

    def __init__(self, client, container, interval=0.05):
        self.client, self.container, self.interval = client, container, interval
        self.polls = []  # (started, ended, running)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            started = time.time()
            listed = self.client.api.containers(filters={'id': self.container.id, 'status': 'running'})
            self.polls.append((started, time.time(), bool(listed)))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(timeout=10)

    def gone_by(self, since):
        """End of the first poll begun after ``since`` that did not find the container running."""
        ends = [ended for started, ended, running in self.polls if started >= since and not running]
        assert ends, 'the listing never stopped showing %s after %.3f' % (self.container.name, since)
        return ends[0]


def _children():
    """parent pid -> [child pids], from /proc."""
    tree = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(')', 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(name))
    return tree


def kill_controller(pid):
    """SIGKILL a controller and everything under it, as a cancelled job's whole tree dies.

    Killing its process group is not enough: ansible-core >= 2.21 puts every worker in its own session. The tree
    is first frozen (SIGSTOP, until no new process shows up: a stopped process cannot fork a worker that would be
    re-parented and lost), then killed.
    """
    found = []
    for dummy in range(20):
        tree = _children()
        todo, seen = [pid], []
        while todo:
            current = todo.pop()
            seen.append(current)
            todo.extend(tree.get(current, []))
        new = [p for p in seen if p not in found]
        for victim in new:
            try:
                os.kill(victim, signal.SIGSTOP)
            except OSError:
                pass
        found.extend(new)
        if not new:
            break
    for victim in found:
        try:
            os.kill(victim, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass

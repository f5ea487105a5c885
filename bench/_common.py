"""Shared plumbing for the bench/ scripts: the test bed, the toolchain, containers, ansible, /proc.

Not a test helper: nothing here asserts on time. Everything labels the containers it makes with
``chaos.engineering/bench=<run id>`` and removes only those.
"""
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import docker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BED = os.path.join(ROOT, 'tests', 'infra', 'docker-bed.sh')
COLLECTIONS = os.path.join(ROOT, 'build', 'collections')
LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'chaos', 'engineering')
IMAGE = 'chaos-busybox:latest'
BENCH_LABEL = 'chaos.engineering/bench'
DOCKER_CLI = '/usr/bin/docker'


def log(msg):
    sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


def new_run_id():
    return 'b' + uuid.uuid4().hex[:10]


# --- machine / toolchain -------------------------------------------------------------------------

def machine_summary():
    cpu = 'unknown cpu'
    try:
        with open('/proc/cpuinfo') as handle:
            for line in handle:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open('/proc/meminfo') as handle:
            mem_kb = int(handle.readline().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    load = os.getloadavg()
    return '%s, %d cpus (%s), %.1f GiB RAM, kernel %s, load %.2f/%.2f/%.2f, %s' % (
        datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%MZ'), os.cpu_count() or 0, cpu,
        mem_kb / 1048576.0, platform.release(), load[0], load[1], load[2], code_version())


def code_version():
    """The commit measured, and whether plugins/ differs from it."""
    try:
        head = subprocess.run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', '-C', ROOT, 'status', '--porcelain', '--', 'plugins'],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return 'unknown commit'
    return 'commit %s%s' % (head, ' + uncommitted changes in plugins/' if dirty else '')


def ensure_collection_link():
    if not os.path.islink(LINK):
        os.makedirs(os.path.dirname(LINK), exist_ok=True)
        os.symlink(ROOT, LINK)


def ansible_bin():
    """`ansible` from the core219 toolchain venv if it can be had, else the one beside this python, else PATH."""
    try:
        out = subprocess.run([os.path.join(ROOT, 'hack', 'toolchain.sh'), '--path', 'core219'],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True,
                             timeout=900).stdout.strip().splitlines()
        if out and os.access(os.path.join(out[-1], 'bin', 'ansible'), os.X_OK):
            return os.path.join(out[-1], 'bin', 'ansible')
    except (OSError, subprocess.SubprocessError):
        pass
    beside = os.path.join(os.path.dirname(sys.executable), 'ansible')
    if os.access(beside, os.X_OK):
        return beside
    return 'ansible'


def ansible_env(extra=None):
    env = dict(os.environ)
    for var in ('DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH'):
        env.pop(var, None)
    env.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='False',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='False', ANSIBLE_DEPRECATION_WARNINGS='False',
               ANSIBLE_STDOUT_CALLBACK='minimal', ANSIBLE_RETRY_FILES_ENABLED='False')
    env.update(extra or {})
    return env


def run_module(ansible, module, args, env=None, host='localhost', inventory=None):
    """One `ansible HOST -m MODULE -a JSON` (localhost unless told); returns (wall seconds, result dict, rc)."""
    argv = [ansible, host, '-m', module, '-a', json.dumps(args)] + (['-i', inventory] if inventory else [])
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or ansible_env(), check=False)
    elapsed = time.perf_counter() - start
    out = proc.stdout
    result = None
    if ' => ' in out:
        try:
            result = json.loads(out.split(' => ', 1)[1])
        except ValueError:
            result = None
    if result is None:
        raise RuntimeError('ansible %s gave no parsable result (rc=%s):\n%s\n%s' % (
            module, proc.returncode, out[-3000:], proc.stderr[-3000:]))
    return elapsed, result, proc.returncode


# --- the test bed ----------------------------------------------------------------------------------

class Bed:
    """The docker-bed: reuse it when it is up (and leave it up), else start one engine and stop it later."""

    def __init__(self, engine=1):
        self.engine = engine
        self.started_here = False
        self.host = None

    def _env(self):
        out = subprocess.run(['bash', BED, 'env'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             check=True).stdout
        found = dict(re.findall(r'^export (\w+)=(\S+)$', out, re.M))
        return found.get('DOCKER_HOST_%d' % self.engine)

    def _engine_up(self):
        proc = subprocess.run(['bash', BED, 'status'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False)
        return re.search(r'^engine%d\s+up\b' % self.engine, proc.stdout, re.M) is not None

    def __enter__(self):
        if not self._engine_up():
            log('test bed is not up: starting %d engine(s) (and taking it down at the end)' % self.engine)
            subprocess.run(['bash', BED, 'up', str(self.engine)], check=True, stdout=sys.stderr)
            self.started_here = True
        else:
            log('test bed is up: using it and leaving it up')
        self.host = self._env()
        if not self.host:
            raise RuntimeError('docker-bed.sh env gave no DOCKER_HOST_%d' % self.engine)
        return self

    def __exit__(self, *exc):
        if self.started_here:
            log('taking the test bed down (it was started by this benchmark)')
            subprocess.run(['bash', BED, 'down'], stdout=sys.stderr, check=False)
        return False


def api_client(host, pool=10):
    return docker.APIClient(base_url=host, version='auto', timeout=120, max_pool_size=max(10, pool))


# --- containers ------------------------------------------------------------------------------------

def parallel(fn, items, workers):
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items) or 1))) as pool:
        return list(pool.map(fn, items))


def create_containers(client, count, run_id, workers=8, extra_labels=None, cgroup_parent=None):
    """Create and start ``count`` busybox containers (`sleep 3600`) labelled for this run; returns ids.

    ``cgroup_parent``: set on each container's own HostConfig (else the engine's default applies)."""
    labels = {BENCH_LABEL: run_id}
    labels.update(extra_labels or {})
    host_config = client.create_host_config(cgroup_parent=cgroup_parent) if cgroup_parent else None

    def one(i):
        cid = client.create_container(IMAGE, ['sleep', '3600'], name='bench-%s-%03d' % (run_id, i),
                                      labels=labels, host_config=host_config)['Id']
        client.start(cid)
        return cid

    return parallel(one, range(count), workers)


def run_ids(client, run_id, running=True):
    filters = {'label': '%s=%s' % (BENCH_LABEL, run_id)}
    if running:
        filters['status'] = 'running'
    return [c['Id'] for c in client.containers(all=not running, filters=filters)]


def start_all(client, run_id, ids, workers=8):
    """(Re)start this run's stopped containers until all ``ids`` run; returns seconds taken."""
    start = time.perf_counter()
    for dummy in range(5):
        running = set(run_ids(client, run_id, running=True))
        todo = [cid for cid in ids if cid not in running]
        if not todo:
            return time.perf_counter() - start
        parallel(client.start, todo, workers)
    raise RuntimeError('could not start all containers')


def remove_run(client, run_id, workers=8):
    ids = run_ids(client, run_id, running=False)

    def rm(cid):
        try:
            client.remove_container(cid, force=True)
        except docker.errors.NotFound:
            pass

    parallel(rm, ids, workers)
    return len(ids)


# --- /proc -----------------------------------------------------------------------------------------

def descendants(pid):
    """pid and every descendant (via /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            for tid in os.listdir('/proc/%d/task' % current):
                with open('/proc/%d/task/%s/children' % (current, tid)) as handle:
                    todo.extend(int(x) for x in handle.read().split())
        except OSError:
            pass
    return out


def smaps_rollup(pid):
    """{'Rss': kB, 'Pss': kB, 'Private_Clean': kB, ...} from /proc/<pid>/smaps_rollup."""
    values = {}
    with open('/proc/%d/smaps_rollup' % pid) as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == 'kB':
                values[parts[0].rstrip(':')] = int(parts[1])
    return values


def memory_of_tree(pid):
    """(rss_kb, pss_kb, uss_kb, n_processes, n_threads) summed over pid and its descendants."""
    rss = pss = uss = threads = procs = 0
    for p in descendants(pid):
        try:
            roll = smaps_rollup(p)
            with open('/proc/%d/status' % p) as handle:
                status = handle.read()
        except OSError:
            continue
        procs += 1
        rss += roll.get('Rss', 0)
        pss += roll.get('Pss', 0)
        uss += roll.get('Private_Clean', 0) + roll.get('Private_Dirty', 0)
        match = re.search(r'^Threads:\s+(\d+)', status, re.M)
        threads += int(match.group(1)) if match else 0
    return rss, pss, uss, procs, threads


def cpu_seconds(pid):
    """utime+stime of pid (and its reaped children), in seconds."""
    with open('/proc/%d/stat' % pid) as handle:
        fields = handle.read().rsplit(')', 1)[1].split()
    ticks = os.sysconf('SC_CLK_TCK')
    return sum(int(x) for x in fields[11:15]) / float(ticks)


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


# --- numbers ---------------------------------------------------------------------------------------

def median(values):
    values = sorted(values)
    n = len(values)
    if not n:
        return float('nan')
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2.0


def percentile(values, q):
    """Linear-interpolated percentile, q in [0, 100]."""
    values = sorted(values)
    if not values:
        return float('nan')
    pos = (len(values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def fmt_runs(values):
    return ', '.join('%.2f' % v for v in values)

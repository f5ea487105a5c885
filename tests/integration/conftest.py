"""Integration tests: ansible-playbook against the private Docker engines of tests/infra/docker-bed.sh.

The session starts the test bed unless it is already up, and stops it again if it started it.
Nothing here talks to a Docker engine that the bed did not start.
"""
import json
import os
import signal
import subprocess
import uuid

import docker
import pytest

from helpers import BED, TEST_LABEL, TLS_BED, run_module_play


def _bed(*args):
    return subprocess.run(['bash', BED] + list(args), check=True, capture_output=True, text=True).stdout


def _bed_env():
    env = {}
    for line in _bed('env').splitlines():
        line = line.strip()
        if line.startswith('export '):
            key, dummy, value = line[len('export '):].partition('=')
            env[key] = value.strip('"\'')
    return env


@pytest.fixture(scope='session')
def bed():
    """The engines' addresses; starts two engines when the bed is not up yet."""
    started = False
    status = subprocess.run(['bash', BED, 'status'], capture_output=True, text=True, check=False)
    env = _bed_env() if status.returncode == 0 else {}
    if int(env.get('CHAOS_BED_N', '0') or 0) < 2:
        _bed('up', os.environ.get('CHAOS_BED_ENGINES', '2'))
        started = True
        env = _bed_env()
    hosts = [env['DOCKER_HOST_%d' % i] for i in range(1, int(env['CHAOS_BED_N']) + 1)]
    yield dict(hosts=hosts, env=env)
    if started and not os.environ.get('CHAOS_BED_KEEP'):
        _bed('down')


@pytest.fixture(scope='session')
def tls_bed(bed):
    """The TLS engine of tests/infra/tls-bed.sh (dockerd --tlsverify, openssl certificates; `env` there says what the
    keys are). Started for the session unless it is up already, then stopped and its state removed. It loads the
    test images from the cache that the Docker bed (``bed``) fills."""
    status = subprocess.run(['bash', TLS_BED, 'status'], capture_output=True, text=True, check=False)
    started = status.returncode != 0
    if started:
        subprocess.run(['bash', TLS_BED, 'up'], check=True, capture_output=True, text=True)
    env = {}
    out = subprocess.run(['bash', TLS_BED, 'env'], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith('export '):
            key, dummy, value = line[len('export '):].partition('=')
            env[key] = value
    yield env
    if started and not os.environ.get('CHAOS_BED_KEEP'):
        subprocess.run(['bash', TLS_BED, 'down'], check=True, capture_output=True, text=True)


@pytest.fixture(scope='session')
def engine(bed):
    return docker.DockerClient(base_url=bed['hosts'][0])


@pytest.fixture
def run_id(bed):
    """A label value unique to one test: its containers, and cleanup of exactly them."""
    value = uuid.uuid4().hex[:10]
    yield value
    for host in bed['hosts']:
        client = docker.DockerClient(base_url=host)
        for container in client.containers.list(all=True, filters={'label': '%s=%s' % (TEST_LABEL, value)}):
            try:
                if container.status == 'paused':
                    container.unpause()
                container.remove(force=True)
            except docker.errors.APIError:
                pass


@pytest.fixture
def ledger_dir(tmp_path):
    path = tmp_path / 'ledger'
    yield str(path)
    # Stop a reverter this test started, so no process outlives the test.
    pid_file = path / 'reverter.pid'
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
    # And any sampler an experiment left (one whose controller was killed stops by itself, soon).
    for state in path.glob('samplers/*/state.json'):
        try:
            os.kill(json.loads(state.read_text())['pid'], signal.SIGTERM)
        except (OSError, ValueError, KeyError, TypeError):
            pass


@pytest.fixture
def run_module(bed, ledger_dir, tmp_path):
    """Run one chaos.engineering module in a playbook on engine 1 (through module_defaults); return its result."""
    def run(module, args, check=False, docker_host=None, diff=False):
        return run_module_play(tmp_path, module, args, 'docker',
                               dict(docker_host=docker_host or bed['hosts'][0], ledger_dir=ledger_dir),
                               check=check, diff=diff)
    return run

"""docker_host=ssh://... against a real sshd in front of the Docker bed's first engine.

A throwaway sshd (Debian's openssh-server; installed when missing) listens on a free port of 127.0.0.1 with its own
host key and a key made here; its sessions get DOCKER_HOST of the bed's engine, where ``docker system dial-stdio``
relays the connection. OpenSSH reads ~/.ssh from the passwd entry, not $HOME, so the modules find the key and the
host key through an ``ssh`` first on their PATH that runs the real /usr/bin/ssh with ``-F`` this test's config.
The test sets up and inspects containers through the engine's socket, which does not depend on the code under test.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from helpers import (done_entries, engine_events, playbook_env, run_module_play, start_containers, status_of,
                     wait_until)

pytestmark = pytest.mark.integration

SSHD = '/usr/sbin/sshd'
REVERT_WAIT = 60  # generous: only bounds how long a broken revert keeps the test waiting


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def run(argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True)


def install_sshd():
    if os.path.exists(SSHD):
        return
    if os.geteuid() != 0:
        pytest.skip('openssh-server is not installed and this is not root')
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    for argv in (['apt-get', 'install', '-y', '-q', '--no-install-recommends', 'openssh-server'],
                 ['apt-get', 'update', '-q']):
        if subprocess.run(argv, capture_output=True, env=env, check=False).returncode == 0 and os.path.exists(SSHD):
            return
    run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', 'openssh-server'])


@pytest.fixture(scope='module')
def ssh_engine(bed, tmp_path_factory):
    """The bed's first engine behind an sshd of our own: its port, the module environment that reaches it, and
    the file where each ssh command run notes its parent's process ID."""
    install_sshd()
    folder = tmp_path_factory.mktemp('sshd')
    for name in ('host_key', 'id'):
        run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', str(folder / name)])
    shutil.copy(str(folder / 'id.pub'), str(folder / 'authorized_keys'))
    port = free_port()
    (folder / 'sshd_config').write_text('\n'.join([
        'Port %d' % port, 'ListenAddress 127.0.0.1', 'HostKey %s/host_key' % folder, 'PidFile %s/sshd.pid' % folder,
        'AuthorizedKeysFile %s/authorized_keys' % folder, 'PermitRootLogin prohibit-password',
        'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no',
        'SetEnv DOCKER_HOST=%s' % bed['hosts'][0], '']))
    (folder / 'known_hosts').write_text('[127.0.0.1]:%d %s' % (port, (folder / 'host_key.pub').read_text()))
    (folder / 'ssh_config').write_text('\n'.join([
        'Host 127.0.0.1', '  IdentityFile %s/id' % folder, '  IdentitiesOnly yes',
        '  UserKnownHostsFile %s/known_hosts' % folder, '  StrictHostKeyChecking yes', '']))
    shim = folder / 'bin'
    shim.mkdir()
    # It also notes which process runs it (the module, or the detached reverter).
    (shim / 'ssh').write_text('#!/bin/sh\necho "$PPID" >> %s/callers\nexec /usr/bin/ssh -F %s/ssh_config "$@"\n'
                              % (folder, folder))
    (shim / 'ssh').chmod(0o755)
    os.makedirs('/run/sshd', exist_ok=True)  # sshd's privilege separation directory
    log = folder / 'sshd.log'
    run([SSHD, '-f', str(folder / 'sshd_config'), '-E', str(log)])
    assert wait_until((folder / 'sshd.pid').exists, 10), log.read_text() if log.exists() else 'no log'
    pid = int((folder / 'sshd.pid').read_text().strip())
    env = playbook_env(dict(PATH='%s:%s' % (shim, os.environ.get('PATH', ''))))
    try:
        yield dict(port=port, env=env, callers=folder / 'callers', host='ssh://root@127.0.0.1:%d' % port)
    finally:
        os.kill(pid, signal.SIGTERM)


@pytest.fixture
def target(engine, run_id):
    return start_containers(engine, run_id, ['db'])['db']  # removed by run_id's cleanup


def ssh_callers(ssh_engine):
    """The process IDs that ran ssh, one per connection."""
    path = ssh_engine['callers']
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def pause(tmp_path, ledger_dir, ssh_engine, name, **connection):
    args = dict(names=[name], duration=2, ledger_dir=ledger_dir, docker_host=ssh_engine['host'], **connection)
    return run_module_play(tmp_path, 'container_pause', args, env=ssh_engine['env'])


def test_a_pause_over_the_ssh_command_is_unpaused_by_the_reverter_over_ssh(tmp_path, ledger_dir, ssh_engine,
                                                                           engine, target):
    since = time.time()
    result = pause(tmp_path, ledger_dir, ssh_engine, target.name, use_ssh_client=True, debug=True)
    assert not result.get('failed'), result
    assert result['changed'] is True and result['chaos']['revert']['armed'] is True
    # debug: the connection as used and the API calls, which went over ssh.
    debug = result['chaos']['docker_debug']
    assert debug['connection']['transport'] == 'ssh (the ssh command)'
    assert debug['connection']['ssh_command'][-2:] == ['127.0.0.1', 'docker system dial-stdio']
    assert any(call.startswith('POST ') and call.endswith('/containers/%s/pause -> 204' % target.id)
               for call in debug['api_calls']), debug['api_calls']
    # The reverter reconnects from the ledger entry: over the ssh command too.
    assert wait_until(lambda: [e['status'] for e in done_entries(ledger_dir)] == ['reverted'], REVERT_WAIT), \
        done_entries(ledger_dir)
    assert status_of(engine, target) == 'running'
    assert len(engine_events(engine, target, since, 'pause')) == 1
    assert len(engine_events(engine, target, since, 'unpause')) == 1
    callers = ssh_callers(ssh_engine)
    reverter_pid = result['chaos']['revert']['reverter_pid']
    assert reverter_pid in callers and len(set(callers)) >= 2, (reverter_pid, callers)  # the module ran ssh too
    entry = done_entries(ledger_dir)[0]
    assert entry['docker']['docker_host'] == ssh_engine['host']
    assert entry['docker']['use_ssh_client'] is True
    assert 'debug' not in entry['docker']


def test_without_the_ssh_command_paramiko_is_needed(tmp_path, ledger_dir, ssh_engine, engine, target):
    try:
        import paramiko  # noqa: F401 pylint: disable=unused-import
    except ImportError:
        result = pause(tmp_path, ledger_dir, ssh_engine, target.name)
        assert result.get('failed') is True, result
        assert 'paramiko' in result['msg'] and 'use_ssh_client=true' in result['msg'], result['msg']
        assert status_of(engine, target) == 'running'
        return
    # With paramiko, the SDK's own transport: it reads ~/.ssh/config through $HOME.
    pytest.skip('paramiko is installed: the paramiko transport is not covered here yet')


def test_an_exec_streams_over_the_ssh_command_and_debug_keeps_its_environment_out(tmp_path, ssh_engine, target):
    # An exec's output comes back over the hijacked connection, which is an ssh process here.
    args = dict(names=[target.name], command=['sh', '-c', 'echo "$CHAOS_SECRET" | wc -c; echo out'],
                env=dict(CHAOS_SECRET='hunter2-very-secret'), exec_timeout=20, docker_host=ssh_engine['host'],
                use_ssh_client=True, debug=True)
    result = run_module_play(tmp_path, 'container_exec', args, env=ssh_engine['env'])
    assert not result.get('failed'), result
    done = result['chaos']['targets'][0]
    assert done['rc'] == 0 and done['stdout'].split() == ['20', 'out'], done
    calls = result['chaos']['docker_debug']['api_calls']
    assert any('/exec/' in call and call.endswith('/start -> 101') for call in calls), calls
    assert 'hunter2-very-secret' not in json.dumps(result)

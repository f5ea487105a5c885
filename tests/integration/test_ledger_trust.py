"""Nobody else steers the ledger: a real unprivileged user tries to plant entries, swap the reverter's code or
make us follow symlinks; malformed entries; an unusable ledger_dir; a revert with the helper image gone.

Every attack runs against a real engine and the real detached reverter (which runs as root here)."""
import json
import os
import pathlib
import pwd
import shutil
import stat
import subprocess
import tempfile
import time

import pytest

from helpers import engine_events, parse_iso, start_containers, status_of, wait_until

INTRUDER = 'chaos-intruder'
GRACE_SECONDS = 1.5


@pytest.fixture(scope='module')
def intruder():
    """A real unprivileged local user (created for these tests, removed after them)."""
    created = False
    try:
        pwd.getpwnam(INTRUDER)
    except KeyError:
        subprocess.run(['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin', INTRUDER],
                       check=True)
        created = True
    yield pwd.getpwnam(INTRUDER)
    if created:
        subprocess.run(['userdel', INTRUDER], check=False)


def as_intruder(argv):
    return subprocess.run(['runuser', '-u', INTRUDER, '--'] + argv, capture_output=True, text=True, check=False)


@pytest.fixture
def shared_dir():
    """A world-writable sticky directory, like /tmp, that both we and the intruder can create things in."""
    path = tempfile.mkdtemp(prefix='chaos-trust-', dir='/tmp')
    os.chmod(path, 0o1777)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


def pause_args(bed, run_id, ledger, duration=3):
    return dict(docker_host=bed['hosts'][0], ledger_dir=ledger, labels={'chaos.engineering/test-run': run_id},
                duration=duration)


def test_a_ledger_dir_made_by_another_user_is_refused_and_nothing_changes(bed, engine, run_id, run_module,
                                                                          intruder, shared_dir):
    box = start_containers(engine, run_id, ['trust-owner'])['trust-owner']
    ledger = str(shared_dir / 'ledger')
    assert as_intruder(['mkdir', '-m', '0777', ledger]).returncode == 0
    result = run_module('container_pause', pause_args(bed, run_id, ledger))
    assert result['failed'] is True
    assert 'owned by uid %d' % intruder.pw_uid in result['msg'] and 'Nothing was changed' in result['msg']
    assert status_of(engine, box) == 'running'
    assert os.listdir(ledger) == []  # nothing of ours was written into it


def test_a_group_writable_or_symlinked_ledger_dir_is_refused(bed, engine, run_id, run_module, tmp_path):
    box = start_containers(engine, run_id, ['trust-mode'])['trust-mode']
    loose = tmp_path / 'loose'
    loose.mkdir()
    os.chmod(str(loose), 0o770)
    result = run_module('container_pause', pause_args(bed, run_id, str(loose)))
    assert result['failed'] is True and 'mode 0770' in result['msg'], result['msg']
    real = tmp_path / 'real'
    real.mkdir(mode=0o700)
    os.symlink(str(real), str(tmp_path / 'link'))
    result = run_module('container_pause', pause_args(bed, run_id, str(tmp_path / 'link')))
    assert result['failed'] is True and 'symlink' in result['msg'], result['msg']
    assert status_of(engine, box) == 'running'


def test_umask_000_still_makes_a_private_ledger_the_intruder_cannot_write(bed, engine, run_id, intruder,
                                                                          shared_dir, run_module):
    box = start_containers(engine, run_id, ['trust-umask'])['trust-umask']
    ledger = str(shared_dir / 'a' / 'b' / 'ledger')  # missing parents too
    old = os.umask(0)
    try:
        result = run_module('container_pause', pause_args(bed, run_id, ledger, duration=2))
    finally:
        os.umask(old)
    assert result['failed'] is False, result
    for top, dirs, files in os.walk(str(shared_dir / 'a')):
        assert stat.S_IMODE(os.lstat(top).st_mode) == 0o700, top
        for name in files:
            assert stat.S_IMODE(os.lstat(os.path.join(top, name)).st_mode) == 0o600, os.path.join(top, name)
    planted = as_intruder(['sh', '-c', 'echo {} > %s/pending/planted.json' % ledger])
    assert planted.returncode != 0 and not os.path.exists(os.path.join(ledger, 'pending', 'planted.json'))
    assert wait_until(lambda: status_of(engine, box) == 'running', timeout=15)


def test_a_planted_entry_and_a_swapped_runtime_copy_never_run(bed, engine, run_id, run_module, tmp_path, intruder):
    """Suppose the intruder got a file into our ledger (say, by an old version's loose modes): an entry owned by
    them is quarantined, not performed; a changed runtime copy of the reverter is rewritten before it runs."""
    box = start_containers(engine, run_id, ['trust-plant'])['trust-plant']
    ledger = str(tmp_path / 'ledger')
    marker = str(tmp_path / 'pwned')
    # A first, harmless fault makes the ledger and its runtime copy.
    assert run_module('container_pause', pause_args(bed, run_id, ledger, duration=1))['failed'] is False
    assert wait_until(lambda: status_of(engine, box) == 'running', timeout=15)
    entry = dict(id='evil-1', fault='container_netem', action='nsenter_exec', target=dict(id=box.id, name='x'),
                 docker=dict(docker_host=bed['hosts'][0]), deadline=time.time(), created_at=time.time(),
                 attempts=0, details=dict(steps=[['touch', marker]], ok_if=[]))
    planted = os.path.join(ledger, 'pending', 'evil-1.json')
    with open(planted, 'w') as handle:
        json.dump(entry, handle)
    os.chown(planted, intruder.pw_uid, intruder.pw_gid)
    runtime = os.path.join(ledger, 'runtime')
    for top, dummy, files in os.walk(runtime):
        for name in files:
            if name == '_reverter.py':
                with open(os.path.join(top, name), 'a') as handle:
                    handle.write('\nopen(%r, "w").close()\n' % marker)
    # The next fault starts a reverter (the first one has idled out or is about to).
    assert wait_until(lambda: not _reverter_alive(ledger), timeout=20)
    result = run_module('container_pause', pause_args(bed, run_id, ledger, duration=1))
    assert result['failed'] is False, result
    assert wait_until(lambda: status_of(engine, box) == 'running', timeout=15)
    assert wait_until(lambda: os.path.exists(os.path.join(ledger, 'quarantine', 'evil-1.json')), timeout=10)
    assert not os.path.exists(marker), 'a planted entry or a swapped runtime copy was executed'
    listed = run_module('ledger', dict(ledger_dir=ledger))
    assert any('owned by uid %d' % intruder.pw_uid in i['reason'] for i in listed['invalid']), listed


def _reverter_alive(ledger):
    try:
        with open(os.path.join(ledger, 'reverter.pid')) as handle:
            os.kill(int(handle.read().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


@pytest.mark.parametrize('name', ['reverter.lock', 'reverter.log'])
def test_a_symlinked_lock_or_log_clobbers_nothing(bed, engine, run_id, run_module, tmp_path, name):
    box = start_containers(engine, run_id, ['trust-link'])['trust-link']
    ledger = tmp_path / 'ledger'
    ledger.mkdir(mode=0o700)
    victim = tmp_path / 'victim'
    victim.write_text('precious\n')
    os.symlink(str(victim), str(ledger / name))
    result = run_module('container_pause', pause_args(bed, run_id, str(ledger)))
    assert result['failed'] is True and 'symlink' in result['msg'], result['msg']
    assert 'Nothing was changed' in result['msg']
    assert victim.read_text() == 'precious\n'
    assert status_of(engine, box) == 'running'


def test_malformed_entries_are_quarantined_and_a_valid_pause_still_ends_on_time(bed, engine, run_id, run_module,
                                                                                tmp_path):
    box = start_containers(engine, run_id, ['trust-garbage'])['trust-garbage']
    ledger = tmp_path / 'ledger'
    pending = ledger / 'pending'
    pending.mkdir(parents=True, mode=0o700)
    os.chmod(str(ledger), 0o700)
    bad = {'x.json': '{"id": "x"}', 'list.json': '[1, 2]', 'junk.json': 'garbage',
           'nan.json': json.dumps(dict(id='nan', action='unpause', target=dict(id='t'), docker={},
                                       deadline='soon', created_at=0))}
    for name, text in bad.items():
        path = pending / name
        path.write_text(text)
        os.chmod(str(path), 0o600)
    listed = run_module('ledger', dict(ledger_dir=str(ledger)))
    assert listed['failed'] is False and sorted(os.path.basename(i['file']) for i in listed['invalid']) == sorted(bad)
    since = time.time()
    result = run_module('container_pause', pause_args(bed, run_id, str(ledger), duration=3))
    assert result['failed'] is False, result
    deadline = result['chaos']['revert']['deadline']
    assert wait_until(lambda: status_of(engine, box) == 'running', timeout=20)
    unpaused = engine_events(engine, box, since, 'unpause')
    assert unpaused and unpaused[0] <= parse_iso(deadline) + GRACE_SECONDS, (unpaused, deadline)
    assert sorted(os.listdir(str(pending))) == []
    quarantined = sorted(n for n in os.listdir(str(ledger / 'quarantine')) if n.endswith('.json'))
    assert quarantined == sorted(bad)


@pytest.mark.parametrize('ledger', ['/dev/null/ledger', 'relative/ledger'])
def test_an_unusable_ledger_dir_changes_nothing(bed, engine, run_id, run_module, ledger):
    boxes = start_containers(engine, run_id, ['unusable-p', 'unusable-k', 'unusable-n'])
    drop = dict(drop=dict(probability=0.5), duration=5)
    for module, box, args in (('container_pause', boxes['unusable-p'], dict(duration=5)),
                              ('container_kill', boxes['unusable-k'], dict(restart_after=5)),
                              ('container_netem', boxes['unusable-n'], drop)):
        args.update(docker_host=bed['hosts'][0], ledger_dir=ledger, names=[box.name])
        result = run_module(module, args)
        assert result['failed'] is True and 'Nothing was changed' in result['msg'], (module, result['msg'])
        assert result.get('changed') is not True
        assert status_of(engine, box) == 'running'
        helpers = engine.containers.list(all=True, ignore_removed=True,
                                         filters={'label': 'chaos.engineering/target=%s' % box.id})
        assert helpers == [], module


def test_revert_without_the_helper_image_uses_the_hosts_tools(bed, engine, run_id, run_module, ledger_dir):
    """The helper and its image are gone at the deadline: the root reverter on the Docker host undoes the fault
    with the host's own tc in the target's namespace."""
    box = start_containers(engine, run_id, ['no-image'])['no-image']
    image = 'chaos-nethelper-gone-%s:1' % run_id
    engine.images.get('chaos-nethelper:latest').tag(image)
    result = run_module('container_netem', dict(docker_host=bed['hosts'][0], ledger_dir=ledger_dir, names=[box.name],
                                                bandwidth=dict(rate='1mbit'), duration=6, helper_image=image))
    assert result['failed'] is False, result
    entry = result['chaos']['targets'][0]
    deadline = parse_iso(entry['revert_at'])
    engine.api.remove_container(entry['helper'], force=True)
    engine.images.remove(image)  # only the tag: the image itself stays for the other tests
    pid = engine.api.inspect_container(box.id)['State']['Pid']

    def ours_gone():
        out = subprocess.run(['nsenter', '-t', str(pid), '-n', '--', 'tc', 'qdisc', 'show'], capture_output=True,
                             text=True, check=True).stdout
        return 'c4a0:' not in out
    assert not ours_gone(), 'the fault is not in place'
    gone_at = wait_until(ours_gone, timeout=max(0, deadline - time.time()) + 10)
    assert gone_at is not None and gone_at <= deadline + GRACE_SECONDS, (gone_at, deadline)
    done_dir = os.path.join(ledger_dir, 'done')
    wait_until(lambda: os.path.isdir(done_dir) and os.listdir(done_dir), timeout=10)
    with open(os.path.join(done_dir, os.listdir(done_dir)[0])) as handle:
        done = json.load(handle)
    assert done['status'] == 'reverted' and done['details']['revert_path'].startswith('nsenter'), done

"""Pumba for the bench/ scripts: the cached binary, built once from the pinned source tarball when it is missing.

The binary lives outside the repository (``~/.cache/chaos-engineering/pumba-<version>``, or ``$CHAOS_PUMBA`` to
use another one). The build is what Pumba's Makefile does, static: ``CGO_ENABLED=0 go build ./cmd`` with the
version stamp, from ``../shared/peers/pumba-<version>-<commit>.tar.gz``; its Go modules come from the Go proxy.
"""
import os
import shutil
import subprocess
import tarfile
import tempfile

import _common as c

VERSION = '1.1.2'
COMMIT = '69b78e6'
TARBALL = 'pumba-%s-%s.tar.gz' % (VERSION, COMMIT)
CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'chaos-engineering')
GO = '/usr/local/go/bin/go'


def shared_dir():
    """The shared folder with peers/: $CHAOS_SHARED_DIR, ../shared beside the checkout, or beside the main one."""
    if os.environ.get('CHAOS_SHARED_DIR'):
        return os.environ['CHAOS_SHARED_DIR']
    candidates = [os.path.join(os.path.dirname(c.ROOT), 'shared')]
    try:
        common = subprocess.run(['git', '-C', c.ROOT, 'rev-parse', '--path-format=absolute', '--git-common-dir'],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True).stdout
        # a worktree: the shared folder sits beside the main checkout
        candidates.append(os.path.join(os.path.dirname(os.path.dirname(common.strip())),
                                       'shared'))
    except (OSError, subprocess.SubprocessError):
        pass
    for candidate in candidates:
        if os.path.isdir(os.path.join(candidate, 'peers')):
            return candidate
    raise RuntimeError('no shared folder with peers/%s (set CHAOS_SHARED_DIR)' % TARBALL)


def works(path):
    try:
        return subprocess.run([path, '--version'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=30, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def binary():
    """The path of a working Pumba binary, building it into the cache first when it is not there."""
    wanted = os.environ.get('CHAOS_PUMBA')
    if wanted:
        if not works(wanted):
            raise RuntimeError('CHAOS_PUMBA=%s does not run' % wanted)
        return wanted
    cached = os.path.join(CACHE, 'pumba-%s' % VERSION)
    if works(cached):
        return cached
    build(cached)
    return cached


def build(dest):
    source = os.path.join(shared_dir(), 'peers', TARBALL)
    c.log('building Pumba %s from %s (Go modules from the proxy: about a minute the first time)' % (VERSION, source))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    work = tempfile.mkdtemp(prefix='.pumba-build-', dir=os.path.dirname(dest))  # beside dest: one rename
    try:
        with tarfile.open(source) as tar:
            tar.extractall(work)  # our own pinned tarball
        src = os.path.join(work, 'pumba-%s' % VERSION)
        env = dict(os.environ, CGO_ENABLED='0', GOFLAGS='-buildvcs=false')
        env['PATH'] = os.path.dirname(GO) + os.pathsep + env.get('PATH', '')
        stamp = '-s -w -X main.version=%s -X main.commit=%s -X main.branch=master' % (VERSION, COMMIT)
        subprocess.run(['nice', '-n', '19', GO, 'build', '-p', '2', '-trimpath', '-ldflags', stamp,
                        '-o', os.path.join(work, 'pumba'), './cmd'], cwd=src, env=env, check=True)
        os.replace(os.path.join(work, 'pumba'), dest)  # the cache holds only a finished build
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not works(dest):
        raise RuntimeError('the Pumba built at %s does not run' % dest)
    return dest

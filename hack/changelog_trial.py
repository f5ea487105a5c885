# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A trial ``antsibull-changelog release`` in a throwaway copy of the collection, and what it must not list.

Usage: python hack/changelog_trial.py COLLECTION_DIR   (the tree from hack/collection-tree.sh; it is not changed)

antsibull-changelog announces new modules by itself (from plugins/modules) and new roles and playbooks from the
fragments' ``add object.role`` / ``add object.playbook`` sections. A fragment entry that announces one of them again
("container_kill - new module ...") makes the release list it twice. This fails when:
- the release has no release summary;
- a module, role or playbook of the collection is not announced exactly once (internal roles are exempt);
- a changes entry announces a new module, role or playbook by itself;
- the same text appears twice in the generated changelog.
"""
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

NEW_OBJECT = re.compile(r'^[\w., ]+ - new (module|role|playbook)\b|^(playbooks?|roles?) ``\w+``', re.IGNORECASE)


def shipped(collection):
    modules = sorted(name[:-3] for name in os.listdir(os.path.join(collection, 'plugins', 'modules'))
                     if name.endswith('.py') and not name.startswith('_'))
    roles = []
    for name in sorted(os.listdir(os.path.join(collection, 'roles'))):
        specs = os.path.join(collection, 'roles', name, 'meta', 'argument_specs.yml')
        entry_points = {}
        if os.path.exists(specs):
            with open(specs) as handle:
                entry_points = (yaml.safe_load(handle) or {}).get('argument_specs') or {}
        if not entry_points or not all(str(spec.get('short_description', '')).startswith('Internal')
                                       for spec in entry_points.values()):
            roles.append(name)
    playbooks = sorted(name[:-4] for name in os.listdir(os.path.join(collection, 'playbooks')) if name.endswith('.yml'))
    return dict(modules=modules, roles=roles, playbooks=playbooks)


def trial_release(collection, version):
    """The release's entry in changelog.yaml and the generated RST, from a copy."""
    with tempfile.TemporaryDirectory(prefix='changelog-trial-') as scratch:
        copy = os.path.join(scratch, 'ansible_collections', *collection.rstrip('/').split('/')[-2:])
        shutil.copytree(collection, copy, ignore=shutil.ignore_patterns('tests', '.git', 'build'))
        subprocess.run(['antsibull-changelog', 'release', '--version', version], cwd=copy, check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(copy, 'changelogs', 'changelog.yaml')) as handle:
            release = yaml.safe_load(handle)['releases'][version]
        with open(os.path.join(copy, 'CHANGELOG.rst')) as handle:
            rst = handle.read()
    return release, rst


def problems(collection):
    with open(os.path.join(collection, 'galaxy.yml')) as handle:
        version = yaml.safe_load(handle)['version']
    release, rst = trial_release(collection, str(version))
    found = []
    changes = release.get('changes', {})
    if not changes.get('release_summary'):
        found.append('the release has no release_summary fragment')
    announced = dict(modules=[m['name'] for m in release.get('modules', [])],
                     roles=[o['name'] for o in release.get('objects', {}).get('role', [])],
                     playbooks=[o['name'] for o in release.get('objects', {}).get('playbook', [])])
    for kind, names in shipped(collection).items():
        counts = collections.Counter(announced[kind])
        for name in names:
            if counts[name] != 1:
                found.append('%s %s is announced %d times, not once' % (kind[:-1], name, counts[name]))
        for name in sorted(set(counts) - set(names)):
            found.append('%s %s is announced but not shipped' % (kind[:-1], name))
    for section, entries in changes.items():
        for entry in entries if isinstance(entries, list) else []:
            if NEW_OBJECT.match(entry):
                found.append('%s announces a new object by itself (antsibull-changelog does): %s' % (
                    section, entry[:80]))
    bullets = collections.Counter(line for line in rst.splitlines() if line.startswith('- '))
    found.extend('listed %d times: %s' % (n, line[:100]) for line, n in bullets.items() if n > 1)
    return found


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    found = problems(os.path.abspath(argv[1]))
    for problem in found:
        print('changelog trial release: %s' % problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

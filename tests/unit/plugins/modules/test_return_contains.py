"""Every nested return value is documented key by key: a RETURN value of type dict, or a list with elements dict,
has a `contains:` naming its keys (at every depth), so that ansible-doc and the docs site show them.

Checked over what users read: `ansible-doc --json` on every module of plugins/modules (tests/conftest.py points
ANSIBLE_COLLECTIONS_PATH at build/collections, a link to this checkout).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..', '..'))
COLLECTION = 'chaos.engineering'
MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, 'plugins', 'modules'))
                 if name.endswith('.py') and not name.startswith('_'))


# Mappings whose keys are the user's data (a probe's name), not names we choose: they have no fixed keys to list, and
# ansible-test refuses a placeholder key. Their description says what the keys and values are.
KEYED_BY_DATA = {('sampler', 'counts')}


def nested(doc):
    return doc.get('type') == 'dict' or (doc.get('type') == 'list' and doc.get('elements') == 'dict')


def missing_contains(spec, path=()):
    """The dotted paths of the dict / list-of-dict values in ``spec`` (a RETURN mapping) without `contains`."""
    missing = []
    for key, doc in sorted((spec or {}).items()):
        here = path + (key,)
        if nested(doc) and not doc.get('contains'):
            missing.append('.'.join(here))
        missing.extend(missing_contains(doc.get('contains'), here))
    return missing


@pytest.fixture(scope='module')
def docs():
    """ansible-doc --json of every module, as ansible-core loads it (one run for all of them)."""
    ansible_doc = os.path.join(os.path.dirname(sys.executable), 'ansible-doc')
    if not os.path.exists(ansible_doc):
        ansible_doc = 'ansible-doc'
    env = dict(os.environ, ANSIBLE_NOCOLOR='1')
    proc = subprocess.run([ansible_doc, '--json'] + ['%s.%s' % (COLLECTION, m) for m in MODULES],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    assert sorted(loaded) == sorted('%s.%s' % (COLLECTION, m) for m in MODULES), (
        'ansible-doc did not load every module (ANSIBLE_COLLECTIONS_PATH=%s): %s' % (
            env.get('ANSIBLE_COLLECTIONS_PATH'), proc.stderr))
    return loaded


def test_the_walk_finds_what_lacks_contains():
    spec = dict(
        a=dict(type='dict'),
        b=dict(type='list', elements='dict', contains=dict(c=dict(type='dict'), d=dict(type='str'))),
        e=dict(type='list', elements='str'),
        f=dict(type='dict', contains=dict(g=dict(type='list', elements='dict', contains=dict(h=dict(type='int'))))),
    )
    assert missing_contains(spec) == ['a', 'b.c']


@pytest.mark.parametrize('module', MODULES)
def test_every_nested_return_value_has_contains(module, docs):
    returned = docs['%s.%s' % (COLLECTION, module)].get('return') or {}
    missing = [path for path in missing_contains(returned) if (module, path) not in KEYED_BY_DATA]
    for name, path in KEYED_BY_DATA:
        if name == module:
            assert 'keys are' in returned[path]['description'], 'say what the keys of %s.%s are' % (module, path)
    assert not missing, '%s: RETURN values of type dict or list of dict without contains: %s' % (
        module, ', '.join(missing))

"""The reverter runs from a private copy of the files it declares (RUNTIME_MODULES): the list must hold every file of
ours that it imports, directly or not, or the detached reverter dies with an ImportError on a managed host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os

from ansible_collections.chaos.engineering.plugins.module_utils import _reverter

MODULE_UTILS = os.path.dirname(os.path.abspath(_reverter.__file__))


def imported_module_utils(name):
    """The module_utils files (by module name) that ``name``'s source imports from our package, anywhere in it."""
    with open(os.path.join(MODULE_UTILS, name + '.py')) as handle:
        tree = ast.parse(handle.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == _reverter.PACKAGE:
                found.update(alias.name for alias in node.names)
            elif node.module.startswith(_reverter.PACKAGE + '.'):
                found.add(node.module[len(_reverter.PACKAGE) + 1:].split('.')[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(_reverter.PACKAGE + '.'):
                    found.add(alias.name[len(_reverter.PACKAGE) + 1:].split('.')[0])
    return found


def runtime_closure(start):
    """Every module_utils file reachable from ``start`` by imports, with the file that first imports it."""
    seen = {start: None}
    todo = [start]
    while todo:
        current = todo.pop()
        for name in imported_module_utils(current):
            if name not in seen:
                seen[name] = current
                todo.append(name)
    return seen


def test_the_runtime_copy_declares_every_file_the_reverter_imports():
    needed = runtime_closure('_reverter')
    missing = sorted('%s (imported by %s)' % (name, by) for name, by in needed.items()
                     if name not in _reverter.RUNTIME_MODULES)
    assert not missing, 'add these to _reverter.RUNTIME_MODULES: %s' % ', '.join(missing)
    unused = sorted(set(_reverter.RUNTIME_MODULES) - set(needed))
    assert not unused, 'the reverter imports none of these; drop them from RUNTIME_MODULES: %s' % ', '.join(unused)


def test_the_closure_follows_imports_of_imports():
    # _kubelet reaches the reverter only through the runtimes (via _revert_client and _runtime_select): the walk
    # must be transitive.
    needed = runtime_closure('_reverter')
    assert needed['_kubelet'] in ('_runtime_docker', '_runtime_containerd')
    assert needed['_runtime_docker'] in ('_revert_client', '_runtime_select')
    assert needed['_runtime_containerd'] == '_runtime_select'
    assert '_kubelet' not in imported_module_utils('_reverter')


def test_every_revert_action_comes_from_a_declared_family_file():
    families = _reverter.families()
    for family in families:
        assert family.__name__.rsplit('.', 1)[1] in _reverter.RUNTIME_MODULES
    assert set(_reverter.REVERT_ACTIONS) == set(a for f in families for a in f.REVERT_ACTIONS)


def test_a_starting_reverter_loads_no_engine_client_before_its_first_listing():
    # Arming modules wait for the reverter's first listing: the docker SDK's import (most of its start-up) comes
    # after it, in families().
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    code = ('import sys; import %s; print(sorted(m for m in ("docker", "requests", "ansible.module_utils.basic") '
            'if m in sys.modules))' % _reverter.REVERTER_MODULE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, '-c', code], stdout=subprocess.PIPE, check=True, text=True, env=env).stdout
    assert out.strip() == '[]'

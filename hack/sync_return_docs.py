# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rewrite the modules' copies of the `chaos` RETURN documentation from docs/chaos_return.yml.

ansible-core has no doc fragments for RETURN, so each fault module carries the shared text. This script replaces,
in each module's RETURN string only, the `chaos` header and every shared key with the text of the source, and keeps
the keys the module documents itself. tests/unit/plugins/modules/test_chaos_return.py uses the same functions.

Usage:
  hack/sync_return_docs.py           rewrite the copies that differ
  hack/sync_return_docs.py --check   only say which copies differ (exit 1 if any)
"""

import argparse
import copy
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, 'docs', 'chaos_return.yml')
MODULES = os.path.join(ROOT, 'plugins', 'modules')
RETURN_START = "RETURN = r'''\n"
RETURN_END = "'''\n"


def load_source(path=SOURCE):
    with open(path) as handle:
        return handle.read()


def module_path(module):
    return os.path.join(MODULES, module + '.py')


# --- What a module's copy must say (parsed YAML), for the test -------------------------------------------------------

def _substitute(value, module):
    if isinstance(value, dict):
        return dict((key, _substitute(item, module)) for key, item in value.items())
    if isinstance(value, list):
        return [_substitute(item, module) for item in value]
    if isinstance(value, str):
        return value.replace('{module}', module)
    return value


def expected_shared(source, module):
    """The shared keys of ``module``'s `chaos` result, as its RETURN must document them."""
    spec = yaml.safe_load(source)
    own_returned = spec['modules'][module].get('returned') or {}
    docs = {}
    for key in spec['modules'][module]['shared']:
        doc = _substitute(copy.deepcopy(spec['shared'][key]), module)
        if key in own_returned:
            doc['returned'] = own_returned[key]
        docs[key] = doc
    return docs


# --- Text: the source's and the modules' YAML, cut into one chunk per key ---------------------------------------------

def _chunks(lines, indent):
    """Cut ``lines`` (the body of a mapping whose keys sit at ``indent`` spaces) into (key, lines) chunks, in order."""
    key_line = re.compile(r'^ {%d}([A-Za-z_][A-Za-z0-9_]*):\s*$' % indent)
    chunks = []
    for line in lines:
        match = key_line.match(line)
        if match:
            chunks.append([match.group(1), [line]])
        elif chunks:
            chunks[-1][1].append(line)
        elif line.strip():
            raise ValueError('text before the first key at indent %d: %r' % (indent, line))
    return [tuple(chunk) for chunk in chunks]


def _block(lines, name):
    """The lines of the top-level mapping ``name`` (from the line after ``name:`` to the next top-level line)."""
    start = lines.index(name + ':\n') + 1
    end = start
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(' ')):
        end += 1
    return start, end


def source_text(source):
    """The source's `chaos` header lines, and its shared keys' lines, indented as in a module's RETURN."""
    lines = source.splitlines(True)
    start, end = _block(lines, 'chaos')
    header = lines[start:end]
    start, end = _block(lines, 'shared')
    shared = dict((key, ['  ' + line if line.strip() else line for line in body])
                  for key, body in _chunks(lines[start:end], 2))
    return header, shared


def _shared_chunk(source, shared_lines, module, key):
    own_returned = yaml.safe_load(source)['modules'][module].get('returned') or {}
    body = [line.replace('{module}', module) for line in shared_lines[key]]
    if key in own_returned:
        # Only the key's own `returned` (6 spaces in), not those of its `contains`.
        body = [re.sub(r'^( {6}returned:) .*$', r'\1 %s' % own_returned[key], line) for line in body]
    return body


def split_return(text):
    """(before, RETURN's lines, after) of a module's source."""
    start = text.index(RETURN_START) + len(RETURN_START)
    end = text.index(RETURN_END, start)
    return text[:start], text[start:end].splitlines(True), text[end:]


def rewrite(text, module, source):
    """``text`` (a module's source) with its `chaos` RETURN copy rewritten from ``source``."""
    spec = yaml.safe_load(source)
    shared_keys = spec['modules'][module]['shared']
    header, shared_lines = source_text(source)
    before, lines, after = split_return(text)
    start, end = _block(lines, 'chaos')
    body = lines[start:end]
    contains = body.index('  contains:\n')
    chunks = _chunks(body[contains + 1:], 4)
    present = set(key for key, dummy in chunks)
    out = []
    for key, chunk in chunks:
        out.extend(_shared_chunk(source, shared_lines, module, key) if key in shared_keys else chunk)
    for key in shared_keys:  # a shared key the module lacks goes at the end
        if key not in present:
            out.extend(_shared_chunk(source, shared_lines, module, key))
    lines[start:end] = header + ['  contains:\n'] + out
    return before + ''.join(lines) + after


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--check', action='store_true', help='only report the copies that differ')
    args = parser.parse_args(argv)
    source = load_source()
    differ = []
    for module in sorted(yaml.safe_load(source)['modules']):
        path = module_path(module)
        with open(path) as handle:
            text = handle.read()
        new = rewrite(text, module, source)
        if new == text:
            continue
        differ.append(path)
        if not args.check:
            with open(path, 'w') as handle:
                handle.write(new)
    for path in differ:
        print('%s %s' % ('differs:' if args.check else 'rewrote:', os.path.relpath(path, ROOT)))
    return 1 if differ and args.check else 0


if __name__ == '__main__':
    sys.exit(main())

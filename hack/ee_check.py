# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment a user builds from docs/execution-environment.yml gets the collection and its deps.

Usage: python hack/ee_check.py COLLECTION_DIR   (the tree from hack/collection-tree.sh; it is not changed)

No image can be built here, so this runs what the image build would run, on this machine:
1. ``ansible-builder create`` on the sample definition: its context must install chaos.engineering with
   ``ansible-galaxy collection install`` and then run ansible-builder's introspection.
2. The same with the sample's tarball variant (the collection built here, copied into the context).
3. The context's own introspect.py over the collection installed from that tarball: the Python requirements and
   system packages it would install must be the collection's (docker, kubernetes, jmespath; python3), and bindep's
   default profile must leave out the packages only a Docker host needs.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

PYTHON_DEPS = ('docker', 'kubernetes', 'jmespath')
HOST_ONLY = ('iproute2', 'iptables', 'util-linux')


def run(argv):
    # A collections path from the caller (hack/lint.sh sets one) would make ansible-galaxy find the collection
    # already installed there and install nothing where the image build's introspection looks.
    env = {k: v for k, v in os.environ.items() if k != 'ANSIBLE_COLLECTIONS_PATH'}
    return subprocess.run(argv, check=True, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env).stdout


def create(definition, context):
    run(['ansible-builder', 'create', '-f', definition, '--context', context])
    with open(os.path.join(context, 'Containerfile')) as handle:
        containerfile = handle.read()
    with open(os.path.join(context, '_build', 'requirements.yml')) as handle:
        requirements = yaml.safe_load(handle)
    return containerfile, requirements


def tarball_variant(sample, tarball, path):
    """The sample, with its commented tarball variant applied as the comment says."""
    with open(sample) as handle:
        definition = yaml.safe_load(handle)
    name = os.path.basename(tarball)
    definition['dependencies']['galaxy'] = dict(collections=[dict(name='/build/' + name, type='file')])
    definition['additional_build_files'] = [dict(src=tarball, dest='.')]
    definition['additional_build_steps'] = dict(prepend_galaxy=['COPY _build/%s /build/' % name])
    with open(path, 'w') as handle:
        yaml.safe_dump(definition, handle)


def problems(collection, scratch):
    found = []
    sample = os.path.join(collection, 'docs', 'execution-environment.yml')
    containerfile, requirements = create(sample, os.path.join(scratch, 'context'))
    names = [c.get('name') for c in (requirements or {}).get('collections', [])]
    if 'chaos.engineering' not in names:
        found.append('the sample definition does not install chaos.engineering: %s' % names)
    for step in ('ansible-galaxy collection install', 'introspect.py introspect'):
        if step not in containerfile:
            found.append('the Containerfile has no step %r' % step)

    dist = os.path.join(scratch, 'dist')
    run(['ansible-galaxy', 'collection', 'build', '--output-path', dist, collection])
    (tarball,) = [os.path.join(dist, n) for n in os.listdir(dist)]
    variant = os.path.join(scratch, 'execution-environment.yml')
    tarball_variant(sample, tarball, variant)
    context = os.path.join(scratch, 'context-tarball')
    containerfile, requirements = create(variant, context)
    if not os.path.exists(os.path.join(context, '_build', os.path.basename(tarball))):
        found.append('the tarball variant does not copy the collection into the context')
    if 'COPY _build/%s /build/' % os.path.basename(tarball) not in containerfile:
        found.append('the tarball variant does not copy the collection into the image')

    # The image build's galaxy stage, then its introspection, with the context's own script.
    installed = os.path.join(scratch, 'collections')
    run(['ansible-galaxy', 'collection', 'install', '--offline', '--collections-path', installed, tarball])
    pip, bindep = os.path.join(scratch, 'requirements.txt'), os.path.join(scratch, 'bindep.txt')
    run([sys.executable, os.path.join(context, '_build', 'scripts', 'introspect.py'), 'introspect', '--sanitize',
         '--write-pip', pip, '--write-bindep', bindep, installed])
    with open(pip) as handle:
        pip_lines = handle.read()
    for dep in PYTHON_DEPS:
        if not re.search(r'^%s\b.*# from collection chaos\.engineering' % dep, pip_lines, re.M):
            found.append('introspection does not install %s from chaos.engineering:\n%s' % (dep, pip_lines))
    default = run(['bindep', '--file', bindep, '--list_all', 'newline']).split()
    host = run(['bindep', '--file', bindep, '--list_all', 'newline', 'host']).split()
    if 'python3' not in default:
        found.append('bindep installs no python3: %s' % default)
    for package in HOST_ONLY:
        if package in default:
            found.append('bindep would install the Docker host tool %s into the EE' % package)
        if package not in host:
            found.append('bindep profile "host" lacks %s: %s' % (package, host))
    return found


def main(argv):
    if len(argv) != 2 or not shutil.which('ansible-builder'):
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory(prefix='ee-check-') as scratch:
        try:
            found = problems(os.path.abspath(argv[1]), scratch)
        except subprocess.CalledProcessError as exc:
            found = ['%s failed (rc %d): %s' % (' '.join(exc.cmd[:3]), exc.returncode, exc.stderr.strip()[-600:])]
    for problem in found:
        print('execution environment: %s' % problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

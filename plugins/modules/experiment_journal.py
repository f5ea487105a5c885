#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) chaos.engineering contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: experiment_journal
short_description: Record one host's part of a chaos experiment in the run's journal, JUnit XML and HTML report
version_added: 0.1.0
description:
  - Merges the record of one inventory host into the journal of a run, in the directory O(path), and rewrites the
    three files there from the merged journal.
  - C(journal.json) is the experiment journal, in one JSON schema for Docker and Kubernetes (see the journal schema
    in the collection docs). C(junit.xml) has one test suite for the run with, per host, a test case per probe and
    phase, per fault window and per skipped fault, and the host's verdict; it validates against the Jenkins JUnit
    schema. C(report.html) is a single self-contained file (inline CSS and SVG, no script, nothing fetched from the
    network) with the verdict and its reason, a timeline per host (fault windows, skipped faults, one lane per probe
    with its threshold, time to detect and to recover), the probe and fault-window tables and the environment.
  - The HTML report is rendered from a Jinja2 template (autoescaped); O(template) replaces the default one.
  - Meant to run on the controller (with C(delegate_to) set to V(localhost)) once per host. Hosts running in parallel forks and
    hosts in later C(serial) batches of the same O(run_id) all end up in the one journal; a lock file in O(path)
    serializes the writers. A journal of another run in O(path) is replaced.
requirements:
  - jinja2 (ansible-core's own requirement)
author:
  - chaos.engineering maintainers (@chaos-engineering)
attributes:
  check_mode:
    support: full
    description:
      - Computes the merged verdict and reports whether the files would change, and writes nothing.
      - Set C(check_mode) to V(false) on the task to write the report of a check-mode experiment.
  diff_mode:
    support: none
    description: The files are reports; no diff is shown.
options:
  path:
    description:
      - The directory to write C(journal.json), C(junit.xml) and C(report.html) to. It is created if needed.
    type: path
    required: true
  run_id:
    description:
      - The identifier of the run. Every host of one run must use the same value.
    type: str
    required: true
  experiment:
    description:
      - What the experiment is, stored as given, for example V(name), V(description) and its settings.
      - When not given, the experiment stored by an earlier host of the run is kept.
    type: dict
  mode:
    description:
      - The file mode of C(journal.json), C(junit.xml) and C(report.html), set whatever the umask, as an octal
        string (V('0640')) or a number.
      - The default lets only their owner read them. Secrets are redacted from the files (see the notes), but
        they still hold the experiment's URLs, hosts and targets.
    type: raw
    default: '0600'
  template:
    description:
      - A Jinja2 template file for C(report.html), on the machine the module runs on (normally the controller),
        instead of the default template. Autoescape is on.
      - It gets the variables described in the journal docs of the collection (V(verdict), V(hosts) with their
        charts and tables, V(environment), V(experiment_json), V(colors), and the redacted V(journal) itself).
        The journal is redacted before the template sees it.
      - A template that cannot be read or rendered fails the task, and no file is written.
    type: path
  host:
    description:
      - The inventory host this record is for. A later record for the same host of the same run replaces it.
    type: str
    required: true
  record:
    description:
      - What happened on O(host). Keys not listed here are stored as they are.
    type: dict
    required: true
    suboptions:
      started_at:
        description: When the experiment started on the host, ISO-8601.
        type: str
      finished_at:
        description: When it finished on the host, ISO-8601.
        type: str
      faults:
        description:
          - The C(chaos) results returned by the fault modules, as they are (a whole registered module result is
            also accepted; its C(chaos) part is kept).
        type: list
        elements: dict
      probes:
        description: The RV(chaos.engineering.probe#module:samples) of every probe run, of every phase.
        type: list
        elements: dict
      recovery:
        description:
          - Recovery measurements, each with C(what), C(seconds) and C(recovered).
          - Optional C(at) (when it recovered) or C(since) (when the measurement started), ISO-8601, place the mark
            on the timeline; without them the mark is placed from the start of the fault whose name or target is
            in C(what), or of the C(after) probes.
        type: list
        elements: dict
      verdict:
        description:
          - The host's verdict. V(inconclusive) when too few samples were taken to judge.
        type: str
        required: true
        choices: [passed, inconclusive, deviated, aborted]
      halted:
        description: Whether a halt condition stopped the run.
        type: bool
      phases:
        description:
          - The phase boundaries, each with C(phase) (V(before), V(during) or V(after)), C(start) and C(end)
            (ISO-8601). There can be several C(during) and C(after) spans. Shaded on the timeline.
        type: list
        elements: dict
      windows:
        description:
          - One per fault per iteration that went in, with C(name), C(fault), C(iteration), C(targets) (names),
            C(applied_at), C(ended_at) (ISO-8601, or null when it never ended while observed), C(end_by), C(seconds),
            and C(probes), each with C(probe), C(samples), C(failed), C(min_samples), C(held), C(conclusive),
            C(detected_at), C(time_to_detect), C(recovered_at) and C(time_to_recover).
          - Without it, the windows are made from O(record.faults) (C(applied_at) or C(started_at) to C(reverted_at)
            or C(expires_at)) and the samples.
        type: list
        elements: dict
      probe_summary:
        description:
          - One per probe, with C(probe), C(type), C(unit), C(threshold) (C(op) V(>=), V(<=) or V(==), and C(value)),
            C(judged_in) (the phases the probe judges) and C(phases) (per phase, C(samples) and C(failed)).
          - Without it, the threshold comes from the probe's definition in O(experiment) (its C(probes)).
        type: list
        elements: dict
      environment:
        description: Where the run ran, with C(controller), C(ansible_core), C(collection) and C(python).
        type: dict
      reason:
        description: Why the verdict, in a sentence.
        type: str
      skipped:
        description:
          - What was skipped and why, each with C(what) and C(reason), and optionally C(name), C(iteration) and C(at)
            (ISO-8601; where the report marks it).
        type: list
        elements: dict
notes:
  - Nothing secret is written. In all three files, the value of every key that names a secret (C(api_key),
    C(password), C(token), C(secret), C(authorization), C(cookie), C(client_key_data), and any key with
    C(password), C(secret), C(token) or C(api_key) in its name), of every credential header in a C(headers)
    dictionary, and the user name and password in a URL (V(http://user:pass@host/)) are replaced by
    V(********), and so is any other occurrence of those values. C(client_key) and C(client_cert) are paths and
    are kept.
  - The same values are masked in what the module returns. Set C(no_log) on the task to keep them out of the
    controller's system log too (the chaos.engineering.experiment role does).
seealso:
  - module: chaos.engineering.probe
'''

EXAMPLES = r'''
- name: Add this host to the run's journal and report
  chaos.engineering.experiment_journal:
    path: "{{ playbook_dir }}/reports/{{ run_id }}"
    run_id: "{{ run_id }}"
    experiment:
      name: web survives losing a replica
      description: Kill one web container; the shop must keep answering in 300 ms.
      settings:
        duration: 60
    host: "{{ inventory_hostname }}"
    record:
      started_at: "{{ started_at }}"
      finished_at: "{{ now(utc=true).isoformat() }}Z"
      faults: ["{{ kill.chaos }}"]
      probes: "{{ before.samples + during.samples + after.samples }}"
      recovery:
        - what: web
          seconds: "{{ after.recovered_after }}"
          recovered: "{{ after.ok }}"
      verdict: "{{ 'passed' if during.ok and after.ok else 'deviated' }}"
      reason: ""
      skipped: []
  delegate_to: localhost
  register: journal

- name: Where the report is
  ansible.builtin.debug:
    msg: "{{ journal.verdict }}: {{ journal.html }}"
  run_once: true
'''

RETURN = r'''
journal:
  description: The path of C(journal.json).
  type: str
  returned: always
  sample: /srv/reports/2026-11-27-web/journal.json
junit:
  description: The path of C(junit.xml).
  type: str
  returned: always
  sample: /srv/reports/2026-11-27-web/junit.xml
html:
  description: The path of C(report.html).
  type: str
  returned: always
  sample: /srv/reports/2026-11-27-web/report.html
verdict:
  description:
    - The verdict of the run so far, the worst of its hosts' (V(aborted), then V(deviated), then V(inconclusive),
      then V(passed)).
  type: str
  returned: always
  sample: passed
host_verdict:
  description: The verdict of O(host).
  type: str
  returned: always
  sample: passed
hosts:
  description: The hosts in the journal so far.
  type: list
  elements: str
  returned: always
  sample: [docker-1, docker-2]
'''

import re

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.chaos.engineering.plugins.module_utils._journal import (
    DEFAULT_MODE,
    JournalError,
    preview_journal,
    write_journal,
)
from ansible_collections.chaos.engineering.plugins.module_utils._report_html import (
    HAS_JINJA2,
    JINJA2_IMPORT_ERROR,
    compile_template,
)
from ansible_collections.chaos.engineering.plugins.module_utils._redact import secret_values


def file_mode(value):
    """The mode option -> an int, or None when it is not a file mode."""
    if value is None:
        return DEFAULT_MODE
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        mode = value
    else:
        text = str(value).strip()
        if not re.match(r'^0?[0-7]{3}$', text):
            return None
        mode = int(text, 8)
    return mode if 0 <= mode <= 0o777 else None


def read_template(path):
    """The text of the template file at ``path`` (None: the default template); JournalError when it is unusable."""
    if path is None:
        return None
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise JournalError('Cannot read the report template %s: %s' % (path, exc.strerror or exc))
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        raise JournalError('The report template %s is not UTF-8 text.' % path)
    compile_template(text)  # a syntax error fails here, before anything is written
    return text


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            run_id=dict(type='str', required=True),
            experiment=dict(type='dict'),
            host=dict(type='str', required=True),
            record=dict(type='dict', required=True),
            mode=dict(type='raw', default='0600'),
            template=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not HAS_JINJA2:
        module.fail_json(msg=missing_required_lib('jinja2'), exception=JINJA2_IMPORT_ERROR)
    # What the files never hold is not returned either (the invocation included).
    module.no_log_values.update(secret_values([params['experiment'], params['record']]))
    mode = file_mode(params['mode'])
    if mode is None:
        module.fail_json(msg='mode must be a file mode from 0000 to 0777, as an octal string such as 0600, got %r.'
                         % (params['mode'],))
    if not params['run_id'].strip():
        module.fail_json(msg='run_id must not be empty.')
    if not params['host'].strip():
        module.fail_json(msg='host must not be empty.')
    try:
        template = read_template(params['template'])
        if module.check_mode:
            result = preview_journal(params['path'], params['run_id'], params['experiment'], params['host'],
                                     params['record'], mode, template)
        else:
            result = write_journal(params['path'], params['run_id'], params['experiment'], params['host'],
                                   params['record'], mode, template)
    except JournalError as exc:
        module.fail_json(msg=str(exc))
    except (IOError, OSError) as exc:
        module.fail_json(msg='Cannot write the journal in %s: %s' % (params['path'], exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()

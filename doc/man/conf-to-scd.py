#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes kvmcd.conf(5)'s scdoc source: the hand-written parts of kvmcd.conf.5.scd.in around a
KEYS section made from `kvmcd --print-example-config`, which kvmcd prints from its config
schema (every key, its default, bounds and description). So the keys are documented in one
place, the schema, and the man page cannot drift from the daemon that reads the file.

Usage: conf-to-scd.py TEMPLATE KVMCD OUTPUT"""
import subprocess
import sys


def scd_escape(text):
    # scdoc formats *bold* and _underline_: a key's text is plain
    return text.replace('\\', '\\\\').replace('*', '\\*').replace('_', '\\_')


def keys_section(example):
    out, section, desc = [], None, []
    for line in example.splitlines():
        if line.startswith('[') and line.endswith(']'):
            section = line
            out.append('## %s\n' % scd_escape(line))
            desc = []
        elif section is None:
            continue  # the file's own header
        elif line.startswith('# '):
            desc.append(line[2:])
        elif line.startswith('#') and '=' in line:
            key, _, default = line[1:].partition('=')
            key, default = key.strip(), default.strip()
            shown = 'default %s' % scd_escape(default) if default else None
            text = ' '.join(desc)
            if '(default: ' in text:
                shown = None  # the description says how the default is made
            out.append('*%s*%s' % (scd_escape(key), (' (%s)' % shown) if shown else ''))
            out.append('\t' + scd_escape(text) + '\n')
            desc = []
    return '\n'.join(out)


def main():
    template, kvmcd, output = sys.argv[1:4]
    example = subprocess.run([kvmcd, '--print-example-config'], check=True, capture_output=True,
                             text=True).stdout
    with open(template) as f:
        text = f.read()
    if '@KEYS@' not in text:
        sys.exit('conf-to-scd.py: no @KEYS@ in ' + template)
    with open(output, 'w') as f:
        f.write(text.replace('@KEYS@', keys_section(example)))


if __name__ == '__main__':
    main()

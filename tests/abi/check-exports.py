#!/usr/bin/python3
"""check-exports.py HEADER MAPFILE LIBRARY

The exported-symbol contract of libkev, checked three ways:
  1. every static inline function of <kevent.h> (KEVENT_INLINE) and every
     function declared in it has an entry in the version script;
  2. the version script names nothing that the header does not declare;
  3. the built library exports exactly the version script's names, each at
     its node (KEVENT_1.0 ...), and nothing else.
Prints TAP.
"""
import re
import subprocess
import sys

header, mapfile, library = sys.argv[1:4]
src = open(header).read()

inline = set(re.findall(r'^KEVENT_INLINE\s+[^\n(]*?\n?(\w+)\(', src, re.M))
declared = set(re.findall(r'^(?:int|const char \*|void)\s*\**\s*(\w+)\(', src, re.M))
mapped = {}
node = None
for line in open(mapfile):
    line = re.sub(r'/\*.*?\*/', '', line).strip()
    m = re.match(r'^(KEVENT_[0-9.]+)\s*\{', line)
    if m:
        node = m.group(1)
        continue
    m = re.match(r'^(\w+);$', line)
    if m and node:
        mapped[m.group(1)] = node

out = subprocess.run(['nm', '-D', '--defined-only', library],
                     capture_output=True, text=True, check=True).stdout
exported = {}
for line in out.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in 'TtWi' and '@' in parts[2]:
        name, _, ver = parts[2].partition('@@')
        exported[name] = ver

checks = []
def check(ok, what):
    checks.append((ok, what))

check(len(inline) >= 7, 'found the inline functions in kevent.h: %s' % sorted(inline))
for f in sorted(inline | declared):
    check(f in mapped, '%s (kevent.h) is in libkev.map' % f)
for f in sorted(mapped):
    check(f in inline or f in declared, '%s (libkev.map) is declared in kevent.h' % f)
for f in sorted(mapped):
    check(exported.get(f) == mapped[f],
          '%s is exported at %s (got %s)' % (f, mapped[f], exported.get(f)))
for f in sorted(exported):
    check(f in mapped, 'exported %s is in the version script' % f)

print('1..%d' % len(checks))
fails = 0
for i, (ok, what) in enumerate(checks, 1):
    print('%s %d - %s' % ('ok' if ok else 'not ok', i, what))
    fails += not ok
sys.exit(1 if fails else 0)

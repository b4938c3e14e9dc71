#!/bin/sh
# What issue 20 costs, measured with bench-native: 151cd00 (before) against
# HEAD with priorities and statistics unused, with statistics on, and with
# the fds spread over the eight levels.  Interleaved rounds; medians.
# OLD: bench-native built at 151cd00 (before issue 20); NEW: at HEAD
old=${OLD:?set OLD to a bench-native built at 151cd00}
new=${NEW:-build-bench/bench/bench-native}
out=${TMPDIR:-/tmp}/issue20-costs.txt
: > $out
for i in 1 2 3 4 5 6 7; do
  for cfg in before head head-stats head-prio; do
    case $cfg in
    before) bin=$old; extra= ;;
    head) bin=$new; extra= ;;
    head-stats) bin=$new; extra=stats=1 ;;
    head-prio) bin=$new; extra=prio=mixed ;;
    esac
    $bin chain kev backend=epoll n=1000 events=60000 tokens=100 segments=10 $extra | grep RESULT | sed "s/^/$cfg chain /" >> $out
    $bin burst kev backend=epoll mode=lt n=10000 rounds=5 $extra | grep RESULT | sed "s/^/$cfg burst /" >> $out
  done
done
/usr/bin/python3 - <<'PY'
import re, statistics
rows={}
for l in open(__import__('os').environ.get('TMPDIR','/tmp') + '/issue20-costs.txt'):
    cfg, wl = l.split()[:2]
    kv=dict(re.findall(r'(\w+)=([0-9.]+)', l))
    for k in (['ns_per_event'] if wl=='chain' else ['harvest_ns','consume_ns','cycle_ns']):
        rows.setdefault((wl,k),{}).setdefault(cfg,[]).append(float(kv[k]))
print("| workload | before (151cd00) | HEAD, unused | ratio | HEAD, statistics on | ratio | HEAD, 8 levels | ratio | runs |")
print("|---|---|---|---|---|---|---|---|---|")
for (wl,k),d in rows.items():
    b=statistics.median(d['before'])
    cells=[]
    for c in ('head','head-stats','head-prio'):
        m=statistics.median(d[c]); cells += ["%.1f" % m, "%.3fx" % (m/b)]
    print("| %s %s | %.1f | %s | %d |" % (wl, k, b, " | ".join(cells), len(d['before'])))
PY

#!/usr/bin/python3
"""tests/stat/test-stat.py KEVENT_STAT STAT_HELPER: kevent-stat(1) on a live
process (stat-helper), TAP.

The helper has queue A (epoll, statistics on) and queue B (uring if built,
statistics off); each published and consumed N user events, A a timer as
well.  Checked: the counters and histograms kevent-stat reads from the
rings, its JSON, its interval mode, rings forged in the helper's memory
(rejected unless they follow every rule), and the errors: no argument, a
bad or unused process id, a process without a queue, one it may not read,
one that exits while it watches.
"""
import json
import os
import re
import subprocess
import sys
import time

STAT, HELPER = sys.argv[1], sys.argv[2]
N = 1000
PY = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable

results = []


def ok(cond, what, diag=''):
    results.append(bool(cond))
    n = len(results)
    print(f"{'ok' if cond else 'not ok'} {n} - {what}")
    if not cond and diag:
        for l in str(diag).splitlines()[:60]:
            print('# ' + l)
    sys.stdout.flush()
    return cond


def run(*args, **kw):
    return subprocess.run([STAT, *map(str, args)], capture_output=True,
                          text=True, timeout=60, **kw)


class Helper:
    def __init__(self, *args):
        self.p = subprocess.Popen([HELPER, str(N), *args], text=True,
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        line = self.p.stdout.readline()
        m = dict(re.findall(r'(\w+)=(\S+)', line))
        if not line.startswith('ready') or 'A' not in m:
            raise RuntimeError(f'stat-helper did not start: {line!r}')
        self.pid = self.p.pid
        self.a = int(m['A'], 16)
        self.b = int(m['B'], 16)
        self.a_consumed = int(m['a_consumed'])
        self.b_consumed = int(m['b_consumed'])
        self.b_backend = m['b_backend']
        self.forged = int(m['forged'], 16) if 'forged' in m else None

    def more(self, k):
        self.p.stdin.write(f'more {k}\n')
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def close(self):
        try:
            self.p.stdin.write('exit\n')
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def blocks(text):
    """{address: text of its block} of a text report."""
    out = {}
    for part in text.split('\nqueue at ')[1:]:
        addr = int(part.split(':', 1)[0], 16)
        out[addr] = part
    return out


def counter(block, name):
    m = re.search(r'^  ' + name + r'\s+(\d+)', block, re.M)
    return int(m.group(1)) if m else None


def hist_rows(block, title):
    """(total in the title line, sum of the bucket rows, labels)"""
    lines = block.splitlines()
    for i, l in enumerate(lines):
        m = re.match(r'^  ' + title + r': (\d+) entries', l)
        if m:
            rows = []
            for r in lines[i + 1:]:
                mm = re.match(r'^    (\S.*?)\s+(\d+)\s+[\d.]+%$', r)
                if not mm:
                    break
                rows.append((mm.group(1), int(mm.group(2))))
            return int(m.group(1)), sum(c for _, c in rows), \
                [l for l, _ in rows]
    return None, None, []


def main():
    h = Helper()
    try:
        check_report(h)
        check_json(h)
        check_interval(h)
    finally:
        h.close()
    check_garbage()
    check_errors()
    check_permission()
    check_exit()
    print(f'1..{len(results)}')
    return 0 if all(results) else 1


def check_report(h):
    r = run(h.pid)
    ok(r.returncode == 0, 'kevent-stat PID: exit status 0', r.stderr)
    out = r.stdout
    ok(re.match(rf'^process {h.pid} \(stat-helper\): 2 kevent queues$', out,
                re.M), 'the header line names the process and 2 queues', out)
    b = blocks(out)
    ok(set(b) == {h.a, h.b}, 'the two rings are found at their addresses',
       out)
    a = b.get(h.a, '')
    pub = counter(a, 'published')
    ok(pub is not None and pub >= N and pub == h.a_consumed,
       f'A: published {pub} >= {N}, equal to what the helper consumed '
       f'({h.a_consumed})', a)
    ok(re.search(r', 256 entries, 0 in the ring$', a, re.M),
       'A: size and entries in the ring', a)
    ok(re.search(r'^  statistics\s+on$', a, re.M), 'A: statistics on', a)
    waits = counter(a, 'waits')
    ok(waits and re.search(r'entries per kevent_wait', a) and
       re.search(r'of waits slept', a) and re.search(r'of published', a),
       'A: the derived lines (per wait, slept, deferred share)', a)
    ok(counter(a, 'sleeps') is not None and counter(a, 'sleeps') >= 1,
       'A: the timer\'s wait slept', a)
    tot, rows, labels = hist_rows(a, 'fire to publish')
    ok(tot == pub and rows == pub,
       f'A: fire to publish: title {tot} and rows {rows} = published {pub}',
       a)
    tot, rows, labels2 = hist_rows(a, 'publish to consume')
    ok(tot == h.a_consumed and rows == h.a_consumed,
       f'A: publish to consume: title {tot} and rows {rows} = consumed '
       f'{h.a_consumed}', a)
    lab = re.compile(r'^(\d+(\.\d+)? (ns|us|ms|s)?-?)+$|^\d+(\.\d+)?-\d+(\.\d+)? '
                     r'(ns|us|ms|s)$|^\d+(\.\d+)? (ns|us|ms)-\d+(\.\d+)? '
                     r'(us|ms|s)$|^>= \d')
    ok(labels and all(lab.match(l) for l in labels + labels2),
       f'A: bucket labels are ranges ({", ".join(labels)})', a)
    ok(re.search(r'p50 [\d.]+ (ns|us|ms|s), p99 ', a),
       'A: p50 and p99 estimates', a)
    bb = b.get(h.b, '')
    ok(re.search(r'^  statistics\s+off$', bb, re.M),
       f'B ({h.b_backend}): statistics off', bb)
    ok(counter(bb, 'published') == h.b_consumed and
       'fire to publish' not in bb and 'publish to consume' not in bb,
       'B: published = consumed, no histogram', bb)


def check_json(h):
    r = run('--json', h.pid)
    ok(r.returncode == 0, '--json: exit status 0', r.stderr)
    t = subprocess.run([PY, '-m', 'json.tool'], input=r.stdout,
                       capture_output=True, text=True)
    ok(t.returncode == 0, '--json: python3 -m json.tool parses it',
       r.stdout + t.stderr)
    try:
        d = json.loads(r.stdout)
    except ValueError:
        ok(False, '--json: the values')
        return
    q = {int(x['address'], 16): x for x in d['queues']}
    a, b = q.get(h.a, {}), q.get(h.b, {})
    ok(d['pid'] == h.pid and d['comm'] == 'stat-helper' and len(q) == 2,
       '--json: pid, comm, 2 queues', r.stdout)
    ok(a.get('statistics') is True and a.get('published') == h.a_consumed
       and a.get('backend') == 'user' and a.get('size') == 256 and
       a.get('pending') == 0, '--json: A: statistics, counters', a)
    f2p, p2c = a.get('fire_to_publish') or [], a.get('publish_to_consume') or []
    ok(len(f2p) == 32 and sum(f2p) == a['published'] and len(p2c) == 32 and
       sum(p2c) == h.a_consumed, '--json: A: 32 buckets each, the sums', a)
    epw = a['published'] / a['waits'] if a.get('waits') else None
    ok(epw and abs(a.get('entries_per_wait', 0) - epw) <= 1e-5 * epw,
       f'--json: A: entries_per_wait {a.get("entries_per_wait")} = {epw}', a)
    ok(isinstance(a.get('fire_to_publish_p50_ns'), (int, float)) and
       a['fire_to_publish_p50_ns'] <= a['fire_to_publish_p99_ns'],
       '--json: A: p50 <= p99', a)
    ok(b.get('statistics') is False and sum(b.get('publish_to_consume') or
                                            [1]) == 0 and
       sum(b.get('fire_to_publish') or [1]) == 0 and
       b.get('published') == h.b_consumed, '--json: B: off, empty', b)


def check_interval(h):
    r = run('-i', '0.2', '-c', '2', h.pid)
    lines = [l for l in r.stdout.splitlines()
             if re.match(r'^\d\d:\d\d:\d\d 0x', l)]
    ok(r.returncode == 0 and len(lines) == 4 and
       all('0 published (0.0/s)' in l for l in lines),
       '-i 0.2 -c 2: one line per queue per interval, nothing published',
       r.stdout + r.stderr)
    # deltas: K more on A while kevent-stat --json -i watches
    k = 500
    p = subprocess.Popen([STAT, '--json', '-i', '0.4', '-c', '4', str(h.pid)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    first = p.stdout.readline()
    done = h.more(k)
    rest, err = p.communicate(timeout=60)
    docs = []
    try:
        docs = [json.loads(l) for l in [first] + rest.splitlines()]
    except ValueError:
        pass
    ok(p.returncode == 0 and len(docs) == 5 and done == f'done {k}',
       '--json -i 0.4 -c 4: the totals, then 4 lines of JSON',
       first + rest + err)
    if len(docs) == 5:
        a0 = [q for q in docs[0]['queues'] if int(q['address'], 16) == h.a]
        deltas = [q for d in docs[1:] for q in d['queues']
                  if int(q['address'], 16) == h.a]
        pub = sum(q['published'] for q in deltas)
        f2p = sum(sum(q['fire_to_publish']) for q in deltas)
        p2c = sum(sum(q['publish_to_consume']) for q in deltas)
        ok(a0 and len(deltas) == 4 and pub == k and f2p == k and p2c == k,
           f'--json -i: A\'s deltas add up to the {k} events published '
           f'(published {pub}, histograms {f2p} and {p2c})', rest)


def check_garbage():
    h = Helper('--garbage')
    try:
        r = run('--json', h.pid)
        d = json.loads(r.stdout) if r.returncode == 0 else {'queues': []}
        found = {int(q['address'], 16): q for q in d['queues']}
        ok(set(found) == {h.a, h.b, h.forged},
           'forged headers that break a rule are not taken for rings; the '
           'forgery that follows every rule is', r.stdout + r.stderr)
        ok(found.get(h.forged, {}).get('published') == 12345,
           'the forgery read as it was written', found.get(h.forged))
    finally:
        h.close()


def unused_pid():
    top = int(open('/proc/sys/kernel/pid_max').read())
    for pid in range(top - 1, 1, -1):
        if not os.path.exists(f'/proc/{pid}'):
            return pid
    return 2 ** 31 - 1


def check_errors():
    r = run()
    ok(r.returncode == 2 and 'usage:' in r.stderr and
       'no process id' in r.stderr, 'no PID: usage, exit status 2', r.stderr)
    for bad in ('abc', '0', '-5', '12x', '99999999999', ' 12', '+12'):
        r = run('--', bad)
        ok(r.returncode == 2 and 'not a process id' in r.stderr,
           f'PID {bad!r}: not a process id, exit status 2', r.stderr)
    r = run('1', '2')
    ok(r.returncode == 2, 'two PIDs: exit status 2', r.stderr)
    r = run('-i', '0', '1')
    ok(r.returncode == 2 and '-i' in r.stderr, '-i 0: exit status 2',
       r.stderr)
    r = run('-c', '3', '1')
    ok(r.returncode == 2 and '-c needs -i' in r.stderr,
       '-c without -i: exit status 2', r.stderr)
    pid = unused_pid()
    r = run(pid)
    ok(r.returncode == 1 and f'no process {pid}' in r.stderr and
       not r.stdout, 'an unused PID: "no process", exit status 1', r.stderr)
    h = Helper('--no-queue')
    try:
        r = run(h.pid)
        ok(r.returncode == 0 and 'no kevent queue' in r.stdout,
           'a process without a queue: "no kevent queue"', r.stdout)
        r = run('--json', h.pid)
        ok(r.returncode == 0 and json.loads(r.stdout)['queues'] == [],
           'a process without a queue: --json has no queue', r.stdout)
    finally:
        h.close()
    h = Helper('--no-queue', '--big')
    try:
        t0 = time.monotonic()
        r = run(h.pid)
        secs = time.monotonic() - t0
    finally:
        h.close()
    ok(r.returncode == 0 and 'no kevent queue' in r.stdout and secs < 20,
       f'1 GiB of anonymous memory, 64 MiB of it written: no kevent queue '
       f'({secs:.2f} s)', r.stdout + r.stderr)


def check_permission():
    # A process that is not dumpable may be read only with CAP_SYS_PTRACE:
    # read it without (as root: with every capability dropped).
    h = Helper('--undumpable')
    try:
        cmd = [STAT, str(h.pid)]
        if os.geteuid() == 0:
            cmd = ['setpriv', '--inh-caps=-all', '--bounding-set=-all'] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    finally:
        h.close()
    ok(r.returncode == 1 and 'need the same user and ptrace permission' in
       r.stderr and 'Yama' in r.stderr,
       'a process it may not read (not dumpable, no CAP_SYS_PTRACE): the '
       'permission message, exit status 1', r.stdout + r.stderr)


def check_exit():
    h = Helper()
    p = subprocess.Popen([STAT, '-i', '0.1', '-c', '100', str(h.pid)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    p.stdout.readline()
    time.sleep(0.3)
    h.close()
    out, err = p.communicate(timeout=60)
    ok(p.returncode == 0 and f'process {h.pid} exited' in err,
       'the process exits during -i: "exited", exit status 0', out + err)


if __name__ == '__main__':
    sys.exit(main())

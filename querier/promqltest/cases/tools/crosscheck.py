#!/usr/bin/env python3
"""Cross-checks a promqltest file against a real Prometheus: backfills every
`load` block with promtool (OpenMetrics), starts Prometheus on the blocks,
runs every `eval` through the HTTP API and prints the file with each eval's
expected lines replaced by Prometheus's answer (2.42 here: mind its closed range
windows and atan2 keeping __name__). Used to write this directory's case files.
Usage: crosscheck.py FILE.test PORT > FILE.generated"""
import json, math, os, re, shutil, subprocess, sys, tempfile, time, urllib.parse, urllib.request

def dur(s):
    total = 0
    for n, u in re.findall(r'(\d+)(ms|s|m|h|d|w|y)', s):
        total += int(n) * {'ms': 1, 's': 1000, 'm': 60000, 'h': 3600000, 'd': 86400000, 'w': 604800000, 'y': 31536000000}[u]
    if re.fullmatch(r'\d+', s):
        return int(s) * 1000
    return total

def expand(tokens):
    out = []
    for tok in tokens:
        m = re.fullmatch(r'([-+]?[\d.eE]+|NaN|[-+]?Inf)([-+][\d.eE]+)x(\d+)', tok)
        if m:
            a, b, n = float(m.group(1)), float(m.group(2)), int(m.group(3))
            out += [a + b * i for i in range(n + 1)]
            continue
        m = re.fullmatch(r'_x(\d+)', tok)
        if m:
            out += [None] * int(m.group(1)); continue
        if tok == '_':
            out.append(None); continue
        out.append(float(tok.replace('Inf', 'inf')))
    return out

def split_series(line):
    line = line.strip()
    if '}' in line:
        i = line.index('}') + 1
        return line[:i], line[i:].split()
    parts = line.split()
    return parts[0], parts[1:]

def fmt(v):
    v = float(v) if not isinstance(v, float) else v
    if math.isnan(v): return 'NaN'
    if math.isinf(v): return '+Inf' if v > 0 else '-Inf'
    r = repr(v)
    if r.endswith('.0'): r = r[:-2]
    return r

def labels_str(metric):
    name = metric.pop('__name__', None)
    inner = ', '.join(f'{k}="{v}"' for k, v in sorted(metric.items()))
    return (name or '') + '{' + inner + '}'

def main():
    path, port = sys.argv[1], int(sys.argv[2])
    lines = open(path).read().split('\n')
    # Only one load block supported (plus optional clear-free file).
    om, i = [], 0
    series_seen = {}
    while i < len(lines):
        l = lines[i]
        if l.startswith('load '):
            step = dur(l.split()[1]); i += 1
            while i < len(lines) and lines[i].startswith((' ', '\t')) and lines[i].strip():
                sel, toks = split_series(lines[i])
                vals = expand(toks)
                name = re.match(r'[a-zA-Z_:][a-zA-Z0-9_:]*', sel)
                name = name.group(0) if name else ''
                rest = sel[len(name):] or ''
                if rest.startswith('{'):
                    body = rest[1:-1]
                    pairs = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"', body)
                    rest = '{' + ','.join(f'{k}="{v}"' for k, v in pairs if k != '__name__') + '}'
                    if not name:
                        name = dict(pairs)['__name__']
                for k, v in enumerate(vals):
                    if v is None: continue
                    om.append((name, f'{name}{rest} {fmt(v)} {k * step / 1000}'))
                i += 1
            continue
        i += 1
    om.sort(key=lambda x: x[0])
    d = tempfile.mkdtemp()
    text = ''
    last = None
    for name, line in om:
        if name != last:
            text += f'# TYPE {name} gauge\n'; last = name
        text += line + '\n'
    text += '# EOF\n'
    open(f'{d}/in.om', 'w').write(text)
    subprocess.run(['promtool', 'tsdb', 'create-blocks-from', 'openmetrics', f'{d}/in.om', f'{d}/data'], check=True, capture_output=True)
    open(f'{d}/p.yml', 'w').write('global: {}\n')
    proc = subprocess.Popen(['prometheus', f'--config.file={d}/p.yml', f'--storage.tsdb.path={d}/data',
                             f'--web.listen-address=127.0.0.1:{port}', '--storage.tsdb.retention.time=100y'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f'http://127.0.0.1:{port}'
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + '/-/ready'); break
            except Exception:
                time.sleep(0.2)
        out, i = [], 0
        while i < len(lines):
            l = lines[i]
            m = re.match(r'(eval(?:_ordered|_fail)?) (instant at (\S+)|range from (\S+) to (\S+) step (\S+)) (.*)', l)
            if not m:
                out.append(l); i += 1; continue
            out.append(l); i += 1
            while i < len(lines) and lines[i].startswith((' ', '\t')) and lines[i].strip():
                i += 1
            q = m.group(7)
            if m.group(3) is not None:
                url = base + '/api/v1/query?' + urllib.parse.urlencode({'query': q, 'time': dur(m.group(3)) / 1000})
            else:
                url = base + '/api/v1/query_range?' + urllib.parse.urlencode({'query': q, 'start': dur(m.group(4)) / 1000, 'end': dur(m.group(5)) / 1000, 'step': dur(m.group(6)) / 1000})
            try:
                r = json.load(urllib.request.urlopen(url))
            except urllib.error.HTTPError as e:
                r = json.load(e)
            if r['status'] != 'success':
                out.append(f'  # PROMETHEUS ERROR: {r.get("error")}')
                out.append('')
                continue
            data = r['data']
            if data['resultType'] == 'scalar':
                out.append(f'  {fmt(float(data["result"][1]))}')
            elif data['resultType'] == 'vector':
                for s in data['result']:
                    out.append(f'  {labels_str(s["metric"])} {fmt(float(s["value"][1]))}')
            elif data['resultType'] == 'matrix':
                start, step = dur(m.group(4) or '0'), dur(m.group(6) or '1s')
                end = dur(m.group(5) or '0')
                n = (end - start) // step + 1 if m.group(4) else 0
                for s in data['result']:
                    if m.group(4):
                        byt = {round(float(t) * 1000): float(v) for t, v in s['values']}
                        vals = [fmt(byt[start + k * step]) if (start + k * step) in byt else '_' for k in range(n)]
                        out.append(f'  {labels_str(s["metric"])} {" ".join(vals)}')
                    else:
                        out.append(f'  {labels_str(s["metric"])} ' + ' '.join(f'{fmt(float(v))}@{t}' for t, v in s['values']))
            if not data['result'] and data['resultType'] != 'scalar':
                out.append('  # empty')
            out.append('')
        print('\n'.join(out))
    finally:
        proc.terminate(); proc.wait()
        shutil.rmtree(d)

main()

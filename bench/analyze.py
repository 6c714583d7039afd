#!/usr/bin/env python3
"""Checks and summaries for bench/run.sh (standard library only).

    analyze.py check-report REPORT.json --tenants T --applied N [--unchanged U]
    analyze.py summarize --raw RAW.tsv --samples SAMPLES.txt --params PARAMS.json --out RESULTS.json
    analyze.py cpu-snapshot POSTMASTER_PID

RAW.tsv:     tab-separated: rep, step, start_ns, end_ns, /usr/bin/time -v output file, CPU snapshot
             before, CPU snapshot after, 1-minute load average at the start.
             steps: apply, floor, noop, noop_floor.
CPU snapshot: 'machine_busy_ticks cluster_ticks ticks_per_second' (see cpu_snapshot).
SAMPLES.txt: psql -At output of the sampler, 'epoch_seconds|tenantplan_active|floor_active|waits' per
             line; waits: comma-separated 'a:TYPE:EVENT' (tenantplan) or 'b:TYPE:EVENT' (floor), one per
             active backend that waits.
"""
import argparse
import json
import os
import statistics
import sys

STEPS = [
    ("apply", "(a) tenantplan apply"),
    ("floor", "(b) psql floor, xargs -P K, 1 psql per tenant"),
    ("noop", "(c) tenantplan apply, no-op rerun"),
    ("noop_floor", "(d) single-query floor (1 psql, UNION ALL)"),
]


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check_report(a):
    try:
        with open(a.report) as f:
            report = json.load(f)
    except (OSError, ValueError) as error:
        fail(f"cannot read report {a.report}: {error}")
    s = report.get("summary", {})
    problems = []
    if s.get("tenants") != a.tenants:
        problems.append(f"summary.tenants = {s.get('tenants')}, expected {a.tenants}")
    if s.get("failed") != 0:
        problems.append(f"summary.failed = {s.get('failed')}, expected 0")
    if s.get("skipped") != 0:
        problems.append(f"summary.skipped = {s.get('skipped')}, expected 0")
    if s.get("migrationsApplied") != a.applied:
        problems.append(f"summary.migrationsApplied = {s.get('migrationsApplied')}, expected {a.applied}")
    if a.unchanged is not None and s.get("unchanged") != a.unchanged:
        problems.append(f"summary.unchanged = {s.get('unchanged')}, expected {a.unchanged}")
    if problems:
        failed = [t for t in report.get("tenants", []) if t.get("error")]
        for t in failed[:3]:
            problems.append(f"tenant {t.get('id')}: {json.dumps(t.get('error'))}")
        fail(f"{a.report}: " + "; ".join(problems))
    print(f"ok: {a.report}: tenants={s['tenants']} migrationsApplied={s['migrationsApplied']} "
          f"unchanged={s.get('unchanged')} durationMs={report.get('durationMs')}")


def cpu_snapshot(pid):
    """Busy CPU ticks of the whole machine (/proc/stat: all but idle and iowait) and of the
    cluster: the postmaster's own and reaped children's ticks plus its live children's."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    busy = user + nice + system + irq + softirq + steal
    cluster = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(")") + 2:].split()   # rest[0] = field 3 (state)
        if int(entry) == pid:
            cluster += sum(int(x) for x in rest[11:15])   # utime stime cutime cstime
        elif int(rest[1]) == pid:
            cluster += int(rest[11]) + int(rest[12])
    print(busy, cluster, os.sysconf("SC_CLK_TCK"))


def parse_time_v(path):
    values = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.strip().rpartition(": ")
            values[key] = value
    return {"userS": float(values["User time (seconds)"]), "sysS": float(values["System time (seconds)"]),
            "peakRssKB": int(values["Maximum resident set size (kbytes)"]), "exit": int(values.get("Exit status", "0"))}


def load_samples(path):
    samples = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("|")
                if len(parts) not in (3, 4):
                    continue
                try:
                    waits = [w for w in parts[3].split(",") if w] if len(parts) == 4 else []
                    samples.append((float(parts[0]), int(parts[1]), int(parts[2]), waits))
                except ValueError:
                    continue
    except OSError:
        pass
    return samples


def activity(samples, start_ns, end_ns, column):
    inside = [s for s in samples if start_ns / 1e9 <= s[0] <= end_ns / 1e9]
    if not inside:
        return None
    window = [s[column] for s in inside]
    gaps = [b[0] - a[0] for a, b in zip(samples, samples[1:]) if start_ns / 1e9 <= a[0] <= end_ns / 1e9]
    prefix = "a:" if column == 1 else "b:"
    waits = {}
    for s in inside:
        for w in s[3]:
            if w.startswith(prefix):
                waits[w[2:]] = waits.get(w[2:], 0) + 1
    # Mean number of active backends in each wait event (the rest of the active ones are on CPU or runnable).
    waits = {k: v / len(inside) for k, v in sorted(waits.items(), key=lambda kv: -kv[1])}
    return {"max": max(window), "mean": sum(window) / len(window), "samples": len(window),
            "medianIntervalMs": round(statistics.median(gaps) * 1000, 1) if gaps else None,
            "meanWaiting": sum(waits.values()), "waitEvents": waits}


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": values}


def summarize(a):
    with open(a.params) as f:
        params = json.load(f)
    runs = {}
    with open(a.raw) as f:
        for line in f:
            rep, step, start, end, timing, before, after, load = line.rstrip("\n").split("\t")
            t = parse_time_v(timing)
            b0, c0, hz = map(int, before.split())
            b1, c1, _ = map(int, after.split())
            client = t["userS"] + t["sysS"]
            server = (c1 - c0) / hz
            busy = (b1 - b0) / hz
            runs.setdefault(step, {})[int(rep)] = {
                "startNs": int(start), "endNs": int(end), "wallS": (int(end) - int(start)) / 1e9,
                "peakRssKB": t["peakRssKB"] if step in ("apply", "noop") else None,
                "clientCpuS": client, "serverCpuS": server, "totalCpuS": client + server,
                "otherCpuS": max(0.0, busy - client - server), "load1AtStart": float(load)}
    reps = sorted(runs["apply"])
    samples = load_samples(a.samples)

    wall = {step: spread([runs[step][r]["wallS"] for r in reps]) for step, _ in STEPS}
    ratio = {}
    cpu = {step: {k: spread([runs[step][r][k] for r in reps]) for k in ("clientCpuS", "serverCpuS", "totalCpuS", "otherCpuS")}
           for step, _ in STEPS}
    for key, num, den in [("applyOverFloor", "apply", "floor"), ("noopOverSingleQueryFloor", "noop", "noop_floor")]:
        r = spread([runs[num][x]["wallS"] / runs[den][x]["wallS"] for x in reps])
        r["ratioOfMedians"] = wall[num]["median"] / wall[den]["median"]
        r["totalCpu"] = spread([runs[num][x]["totalCpuS"] / max(runs[den][x]["totalCpuS"], 1e-9) for x in reps])
        ratio[key] = r
    rss_apply = [runs["apply"][r]["peakRssKB"] / 1024 for r in reps]
    rss_noop = [runs["noop"][r]["peakRssKB"] / 1024 for r in reps]
    concurrency = {
        "tenantplanDuringApply": [activity(samples, runs["apply"][r]["startNs"], runs["apply"][r]["endNs"], 1) for r in reps],
        "psqlDuringFloor": [activity(samples, runs["floor"][r]["startNs"], runs["floor"][r]["endNs"], 2) for r in reps],
    }

    def agg(items):
        items = [i for i in items if i]
        if not items:
            return None
        n = sum(i["samples"] for i in items)
        events = {}
        for i in items:
            for k, v in i["waitEvents"].items():
                events[k] = events.get(k, 0) + v * i["samples"] / n
        return {"max": max(i["max"] for i in items), "mean": sum(i["mean"] * i["samples"] for i in items) / n,
                "meanWaiting": sum(i["meanWaiting"] * i["samples"] for i in items) / n,
                "waitEvents": dict(sorted(events.items(), key=lambda kv: -kv[1])),
                "samples": n, "perRepetition": items}

    conc = {k: agg(v) for k, v in concurrency.items()}
    result = {
        "params": params,
        "wallSeconds": wall,
        "cpuSeconds": cpu,
        "ratios": ratio,
        "peakRssMB": {"apply": spread(rss_apply), "noop": spread(rss_noop), "max": max(rss_apply + rss_noop)},
        "activeBackends": conc,
        "runs": [{"repetition": r, "step": step, **runs[step][r]} for r in reps for step, _ in STEPS],
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")

    p = params
    print()
    print(f"tenantplan benchmark: T={p['T']} tenants x M={p['M']} migrations, K={p['K']}, "
          f"R={p['R']} repetitions, maxConnections={p['maxConnections']}, "
          f"recycleAfter={p.get('recycleAfter') or 'default'}, {p['cpus']} CPUs, {p['postgres']}")
    print(f"{'':50} {'median':>9} {'min':>9} {'max':>9}")
    for step, label in STEPS:
        w = wall[step]
        print(f"{label:50} {w['median']:8.3f}s {w['min']:8.3f}s {w['max']:8.3f}s")
    for key, label in [("applyOverFloor", "ratio (a)/(b): apply / psql floor"),
                       ("noopOverSingleQueryFloor", "ratio (c)/(d): no-op rerun / single-query floor")]:
        r = ratio[key]
        print(f"{label:50} {r['median']:8.2f}x {r['min']:8.2f}x {r['max']:8.2f}x")
    print(f"{'  (ratios are per-repetition pairs; ratio of medians:':50} "
          f"{ratio['applyOverFloor']['ratioOfMedians']:.2f}x and {ratio['noopOverSingleQueryFloor']['ratioOfMedians']:.2f}x)")
    print("per repetition, wall seconds [other CPU seconds on the machine during the step]:")
    for r in reps:
        order = sorted(STEPS, key=lambda st: runs[st[0]][r]["startNs"])
        print(f"  {r}: " + ", ".join(f"{st} {runs[st][r]['wallS']:.3f} [{runs[st][r]['otherCpuS']:.1f}]" for st, _ in order))
    print()
    print(f"{'CPU seconds (median over repetitions)':50} {'client':>9} {'server':>9} {'total':>9} {'other*':>9} {'load1':>6}")
    for step, label in STEPS:
        c = cpu[step]
        load = statistics.median([runs[step][r]["load1AtStart"] for r in reps])
        print(f"{label:50} {c['clientCpuS']['median']:8.2f}s {c['serverCpuS']['median']:8.2f}s "
              f"{c['totalCpuS']['median']:8.2f}s {c['otherCpuS']['median']:8.2f}s {load:6.2f}")
    for key, label in [("applyOverFloor", "total CPU (a)/(b)"), ("noopOverSingleQueryFloor", "total CPU (c)/(d)")]:
        r = ratio[key]["totalCpu"]
        print(f"{label:50} {r['median']:8.2f}x (min {r['min']:.2f}x, max {r['max']:.2f}x)")
    print("  * other = the machine's busy CPU during the step minus client and server: load that is not ours")
    print()
    ra, rn = result["peakRssMB"]["apply"], result["peakRssMB"]["noop"]
    print(f"{'(e) tenantplan peak RSS, apply':50} {ra['median']:7.1f}MB {ra['min']:7.1f}MB {ra['max']:7.1f}MB")
    print(f"{'(e) tenantplan peak RSS, no-op rerun':50} {rn['median']:7.1f}MB {rn['min']:7.1f}MB {rn['max']:7.1f}MB")
    print(f"{'(e) tenantplan peak RSS, max over all runs':50} {result['peakRssMB']['max']:7.1f}MB")
    for key, label in [("tenantplanDuringApply", "active tenantplan backends during (a)"),
                       ("psqlDuringFloor", "active psql backends during (b)")]:
        c = conc[key]
        if c:
            interval = statistics.median([i["medianIntervalMs"] for i in c["perRepetition"] if i["medianIntervalMs"]] or [0])
            print(f"{label:50} max {c['max']}, mean {c['mean']:.2f} ({c['samples']} samples, ~{interval:.0f} ms apart)")
            top = ", ".join(f"{k} {v:.2f}" for k, v in list(c["waitEvents"].items())[:4]) or "none"
            print(f"{'  of which waiting (mean), top wait events':50} {c['meanWaiting']:.2f}: {top}")
            per = ", ".join(f"{i['mean']:.2f}/{i['meanWaiting']:.2f}" for i in c["perRepetition"])
            print(f"{'  per repetition, mean active/waiting':50} {per}")
        else:
            print(f"{label:50} no samples")
    print(f"results: {a.out}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("cpu-snapshot").add_argument("pid", type=int)
    c = sub.add_parser("check-report")
    c.add_argument("report")
    c.add_argument("--tenants", type=int, required=True)
    c.add_argument("--applied", type=int, required=True)
    c.add_argument("--unchanged", type=int)
    s = sub.add_parser("summarize")
    s.add_argument("--raw", required=True)
    s.add_argument("--samples", required=True)
    s.add_argument("--params", required=True)
    s.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.cmd == "check-report":
        check_report(a)
    elif a.cmd == "cpu-snapshot":
        cpu_snapshot(a.pid)
    else:
        summarize(a)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Score `cleanbox-relay bounce explain --json` against the bounce corpus.

usage: bench/bounce_score.py BINARY [CORPUS_DIR] [--runs N] [--repeat K]
       [--verbose] [--no-sisimai]

Runs the binary once over every *.eml of the corpus (default
../shared/corpus/bounces relative to the project root), compares each
file's results with labels.tsv (order-free within a file: results are
paired with label rows to maximise agreement), and prints the agreement
for reason, hard/soft and status, plus the most frequent confusions.
Then runs Debian's Sisimai (perl, Sisimai->make) over the same files,
scored the same way, and prints both throughputs and their ratio.

Throughput is messages per second of whole-process wall time, best of
--runs, measured two ways for both tools alike: one pass over the corpus
(process start-up included: perl loading Sisimai, the dynamic loader and
GLib for us), and a steady-state pass where each tool gets the corpus
--repeat times in one invocation (start-up spread over K x N messages).
"""

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import time

SISIMAI_SCRIPT = r"""
use strict; use warnings; use Sisimai;
for my $f (@ARGV) {
    my $v = Sisimai->make($f, 'delivered' => 1, 'vacation' => 1);
    print "F\t$f\n";
    next unless $v;
    for my $e (@$v) {
        my $h = $e->softbounce;
        my $hard = $h == 0 ? 'true' : ($h == 1 ? 'false' : 'unknown');
        printf "R\t%s\t%s\t%s\t%s\n", $e->deliverystatus // '',
            $e->replycode // '', $e->reason // '', $hard;
    }
}
"""


def load_labels(corpus):
    labels = collections.defaultdict(list)
    with open(os.path.join(corpus, "labels.tsv"), encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            labels[row["file"]].append({
                "status": row["status"], "reply": row["reply"],
                "reason": row["reason"], "hard": row["hard"]})
    return labels


def hard_str(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    return "unknown"


def pair(labels, results):
    """Pair label rows with results, best agreement first (greedy on a
    score that weighs reason, then status, then hard/soft)."""
    cands = []
    for i, lab in enumerate(labels):
        for j, res in enumerate(results):
            s = (4 * (lab["reason"] == res["reason"]) +
                 2 * (lab["status"] == res["status"]) +
                 1 * (lab["hard"] == res["hard"]))
            cands.append((-s, i, j))
    cands.sort()
    used_l, used_r, pairs = set(), set(), []
    for _, i, j in cands:
        if i in used_l or j in used_r:
            continue
        used_l.add(i)
        used_r.add(j)
        pairs.append((labels[i], results[j]))
    for i, lab in enumerate(labels):
        if i not in used_l:
            pairs.append((lab, None))
    extra = len(results) - len(used_r)
    return pairs, extra


def score(labels, got, verbose=False, name=""):
    total = agree_reason = agree_hard = agree_status = 0
    extra_total = 0
    confusion = collections.Counter()
    bad_files = []
    for fname, labs in sorted(labels.items()):
        results = got.get(fname, [])
        pairs, extra = pair(labs, results)
        extra_total += extra
        file_ok = extra == 0
        for lab, res in pairs:
            total += 1
            if res is None:
                confusion[(lab["reason"], "(missing)")] += 1
                file_ok = False
                continue
            if lab["reason"] == res["reason"]:
                agree_reason += 1
            else:
                confusion[(lab["reason"], res["reason"])] += 1
                file_ok = False
            if lab["hard"] == res["hard"]:
                agree_hard += 1
            else:
                file_ok = False
            if lab["status"] == res["status"]:
                agree_status += 1
            else:
                file_ok = False
        if not file_ok:
            bad_files.append((fname, labs, results))
    if verbose:
        for fname, labs, results in bad_files:
            print("  %s" % fname)
            for lab in labs:
                print("     want %-6s %-4s %-16s %s" % (
                    lab["status"], lab["reply"], lab["reason"], lab["hard"]))
            for res in results:
                print("     got  %-6s %-4s %-16s %s  %s" % (
                    res["status"], res.get("reply", ""), res["reason"],
                    res["hard"], res.get("diagnostic", "")[:110]))
    return {
        "total": total, "reason": agree_reason, "hard": agree_hard,
        "status": agree_status, "extra": extra_total,
        "confusion": confusion, "bad_files": len(bad_files),
    }


def pct(a, b):
    return 100.0 * a / b if b else 0.0


def report(title, s, secs, nfiles):
    t = s["total"]
    print("%s" % title)
    print("  reason     %4d/%d = %6.2f %%" % (s["reason"], t, pct(s["reason"], t)))
    print("  hard/soft  %4d/%d = %6.2f %%" % (s["hard"], t, pct(s["hard"], t)))
    print("  status     %4d/%d = %6.2f %%" % (s["status"], t, pct(s["status"], t)))
    print("  extra results (not in labels): %d; files with any difference: %d"
          % (s["extra"], s["bad_files"]))
    print("  throughput %.0f msgs/s (%d files in %.3f s, best run)"
          % (nfiles / secs, nfiles, secs))
    worst = s["confusion"].most_common(10)
    if worst:
        print("  worst-confused reasons (label -> got: count):")
        for (a, b), n in worst:
            print("    %-16s -> %-16s %d" % (a, b, n))


def timed(argv, runs):
    """Best (wall seconds, CPU seconds) over runs; CPU = the child's user +
    system time, which a busy shared machine disturbs far less."""
    best_wall = best_cpu = None
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        best_wall = wall if best_wall is None else min(best_wall, wall)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    return best_wall, best_cpu


def time_ours(binary, files, runs):
    return timed([binary, "bounce", "explain", "--json"] + files, runs)


def time_sisimai(files, runs):
    return timed(["perl", "-e", SISIMAI_SCRIPT] + files, runs)


def run_ours(binary, files, runs):
    best = None
    out = None
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run([binary, "bounce", "explain", "--json"] + files,
                           stdout=subprocess.PIPE, check=False)
        dt = time.perf_counter() - t0
        if best is None or dt < best:
            best = dt
        out = p.stdout
    got = {}
    for line in out.decode("utf-8").splitlines():
        o = json.loads(line)
        fname = os.path.basename(o["file"])
        got[fname] = [{
            "status": r["status"], "reply": r["reply"], "reason": r["reason"],
            "hard": hard_str(r["hard"]), "diagnostic": r["diagnostic"],
        } for r in o.get("results", [])]
    return got, best, len(out.decode("utf-8").splitlines())


def run_sisimai(files, runs):
    best = None
    out = None
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(["perl", "-e", SISIMAI_SCRIPT] + files,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           check=False)
        dt = time.perf_counter() - t0
        if best is None or dt < best:
            best = dt
        out = p.stdout
    got = {}
    cur = None
    for line in out.decode("utf-8", "replace").splitlines():
        parts = line.split("\t")
        if parts[0] == "F":
            cur = os.path.basename(parts[1])
            got[cur] = []
        elif parts[0] == "R" and cur is not None:
            got[cur].append({"status": parts[1], "reply": parts[2],
                             "reason": parts[3], "hard": parts[4]})
    return got, best


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("corpus", nargs="?",
                    default=os.path.join(root, "..", "shared", "corpus",
                                         "bounces"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=10,
                    help="corpus copies per invocation for steady state")
    ap.add_argument("--verbose", action="store_true",
                    help="list every file that differs from its labels")
    ap.add_argument("--no-sisimai", action="store_true")
    a = ap.parse_args()

    corpus = os.path.abspath(a.corpus)
    labels = load_labels(corpus)
    files = sorted(os.path.join(corpus, f) for f in os.listdir(corpus)
                   if f.endswith(".eml"))
    if not files:
        sys.exit("no *.eml in %s" % corpus)

    got, secs, nlines = run_ours(os.path.abspath(a.binary), files, a.runs)
    if nlines != len(files):
        print("WARNING: %d JSON lines for %d files" % (nlines, len(files)))
    ours = score(labels, got, a.verbose)
    report("cleanbox-relay bounce explain (%s)" % a.binary, ours, secs,
           len(files))
    if a.no_sisimai:
        return
    sgot, ssecs = run_sisimai(files, a.runs)
    sis = score(labels, sgot)
    print()
    report("Sisimai (Debian libsisimai-perl)", sis, ssecs, len(files))
    print()
    k = max(1, a.repeat)
    many = files * k
    n1, nk = len(files), len(many)
    ow, oc = time_ours(os.path.abspath(a.binary), files, a.runs)
    sw, sc = time_sisimai(files, a.runs)
    rw, rc = time_ours(os.path.abspath(a.binary), many, a.runs)
    rsw, rsc = time_sisimai(many, max(1, min(a.runs, 2)))
    print("throughput (messages/s; best of %d runs)" % a.runs)
    print("  %-34s %10s %10s %8s" % ("", "ours", "Sisimai", "ratio"))
    for label, us, them, n in (
            ("one pass, wall clock", ow, sw, n1),
            ("one pass, CPU time", oc, sc, n1),
            ("steady (%dx corpus), wall clock" % k, rw, rsw, nk),
            ("steady (%dx corpus), CPU time" % k, rc, rsc, nk)):
        print("  %-34s %10.0f %10.0f %7.1fx" % (label, n / us, n / them,
                                                 them / us))
    t = ours["total"]
    print("targets: reason %.2f%% (>=97), hard/soft %.2f%% (>=99), "
          "status %.2f%% (>=97), speed %.1fx steady CPU / %.1fx one-pass "
          "wall (>=20)"
          % (pct(ours["reason"], t), pct(ours["hard"], t),
             pct(ours["status"], t), rsc / rc, sw / ow))


if __name__ == "__main__":
    main()

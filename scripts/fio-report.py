#!/usr/bin/env python3
"""Turn the output of scripts/guest/fio.sh into bench/results/fio.md and
its plot (fio.png, gnuplot).

usage: fio-report.py LOGPREFIX [-o OUT.md]

Reads LOGPREFIX.out (FIO-* lines, one fio --output-format=json document a
run), LOGPREFIX.cmdline (the QEMU command line scripts/qemu-run.sh
recorded) and LOGPREFIX.commit (scripts/benchlog.py), writes OUT.md
(default bench/results/fio.md) and fio.png next to it.  Each figure is the
median over the rounds of one boot.  Exits non-zero if the guest job did
not finish with status 0, a run failed or read nothing, or a run of the
matrix is missing.
"""
import argparse
import collections
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlog import provenance  # noqa: E402

ENGINES = [
    ("io_uring", "io_uring", "`--ioengine=io_uring` (liburing defaults, no SQPOLL, no fixed buffers)"),
    ("libaio", "libaio", "`--ioengine=libaio` (Linux native AIO)"),
    ("posixaio", "posixaio (glibc)", "`--ioengine=posixaio` on glibc's POSIX AIO (user-space helper threads)"),
    ("shim", "posixaio (syslet shim)",
     "`--ioengine=posixaio` with `LD_PRELOAD=libsyslet-aio.so`: POSIX AIO on syslets"),
    ("psync", "psync", "`--ioengine=psync`: pread(2), one request at a time, so depth 1 only"),
]
NAMES = {e: n for e, n, _ in ENGINES}
MODES = [("direct", "O_DIRECT"), ("buffered", "cold buffered")]
DEPTHS = [1, 16, 64]


def depths_of(engine):
    return [1] if engine == "psync" else DEPTHS


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def parse(path):
    """-> meta dict, guest status, [run dict]"""
    meta, status, runs, cur = {}, None, [], None
    for line in open(path, errors="replace").read().replace("\r", "").splitlines():
        key, _, rest = line.partition(" ")
        if key == "FIO-RUN":
            rnd, mode, engine, depth = rest.split()
            cur = {"round": int(rnd), "mode": mode, "engine": engine, "depth": int(depth)}
            runs.append(cur)
        elif key == "FIO-DISK" and cur is not None:
            when, _, stat = rest.partition(" ")
            cur["disk_" + when] = [int(x) for x in stat.split()]
        elif key == "FIO-JSON" and cur is not None:
            text = rest[rest.find("{"):]
            try:
                cur["json"] = json.loads(text)
            except ValueError as e:
                cur["json_error"] = str(e)
        elif key == "FIO-STATUS" and cur is not None:
            cur["status"] = int(rest)
        elif key == "FIO-SHIM-CHECK":
            meta["SHIM-CHECK"] = dict(kv.split("=", 1) for kv in rest.split())
        elif key in ("FIO-VERSION", "FIO-KERNEL", "FIO-CPUS", "FIO-DEVICE", "FIO-PARAMS"):
            meta[key[4:]] = rest
        elif line.startswith("SYSLET-GUEST-EXIT: "):
            status = line.split(": ")[1]
    return meta, status, runs


def figures(run):
    """The figures of one run, from fio's JSON: None if it read nothing."""
    doc = run.get("json")
    if not doc or not doc.get("jobs"):
        return None
    job = doc["jobs"][0]
    rd = job["read"]
    ios = rd["total_ios"]
    secs = rd["runtime"] / 1000.0
    if job.get("error") or ios <= 0 or secs <= 0:
        return None
    fig = {
        "iops": rd["iops"],
        "usr": job["usr_cpu"],
        "sys": job["sys_cpu"],
        # CPU time of the fio job process (all its threads: glibc's AIO
        # helpers, the shim's reaper and the syslet pool threads, io-wq
        # workers) per read, in microseconds
        "cpu_us": (job["usr_cpu"] + job["sys_cpu"]) / 100.0 * secs / ios * 1e6,
        "ctx": job["ctx"] / ios,
        "lat_us": rd["lat_ns"]["mean"] / 1000.0,
        "ios": ios,
        "options": {k: job["job options"].get(k) for k in
                    ("direct", "ioengine", "iodepth", "runtime", "ramp_time", "rw", "bs")},
    }
    if "disk_before" in run and "disk_after" in run:
        fig["disk"] = (run["disk_after"][0] - run["disk_before"][0]) / ios
    return fig


def gnuplot(script):
    if not shutil.which("gnuplot"):
        print("fio-report: no gnuplot, plot skipped", file=sys.stderr)
        return False
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return True


def plot(png, table):
    """2 x 2 clustered bars: IOPS and CPU per read, O_DIRECT and buffered;
    x = queue depth, one bar per engine (psync: depth 1 only)."""
    script = ("set terminal pngcairo size 1100,900 font 'sans,10' noenhanced\n"
              f"set output '{png}'\nset multiplot layout 2,2\n"
              "set style data histograms\nset style histogram clustered gap 1\n"
              "set style fill solid 0.8 border -1\nset boxwidth 0.9\nset grid ytics\n"
              "set datafile missing '?'\nset yrange [0:*]\n"
              "set key outside below horizontal font 'sans,8'\n"
              "set xlabel 'queue depth'\n")
    for what, ylabel in (("iops", "IOPS (4 KiB random reads)"), ("cpu_us", "CPU us per read (fio process)")):
        for mode, title in MODES:
            rows = ""
            for d in DEPTHS:
                cells = []
                for e, _, _ in ENGINES:
                    v = table.get((mode, e, d), {}).get(what)
                    cells.append("?" if v is None else f"{v:.6g}")
                rows += f"\"{d}\" " + " ".join(cells) + "\n"
            plots = ", ".join(f"'-' using {i + 2}:xtic(1) title '{n}'" for i, (_, n, _) in enumerate(ENGINES))
            script += f"set title '{title}: {ylabel}'\nset ylabel '{ylabel}'\nplot {plots}\n"
            script += (rows + "e\n") * len(ENGINES)
    script += "unset multiplot\n"
    return gnuplot(script)


def loadavg():
    try:
        return ", ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def fmt(v, digits=0):
    if v is None or v != v:
        return "–"
    return f"{v:,.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log", help="LOGPREFIX of scripts/qemu-run.sh")
    ap.add_argument("-o", "--out", default="bench/results/fio.md")
    a = ap.parse_args()
    outdir = os.path.dirname(os.path.abspath(a.out))
    os.makedirs(outdir, exist_ok=True)

    meta, status, runs = parse(a.log + ".out")
    errors = []
    if status != "0":
        errors.append(f"the guest job exited with status {status}")
    per = collections.defaultdict(list)   # (mode, engine, depth) -> [figures]
    params = dict(kv.split("=", 1) for kv in re.findall(r"\S+=\S+", meta.get("PARAMS", "")))
    for r in runs:
        fig = figures(r)
        label = f"round {r['round']} {r['mode']} {r['engine']} depth {r['depth']}"
        # what the run was meant to be, in fio's own words
        want = {"direct": "1" if r["mode"] == "direct" else "0",
                "ioengine": "posixaio" if r["engine"] == "shim" else r["engine"],
                "iodepth": str(r["depth"]), "runtime": params.get("runtime"),
                "ramp_time": params.get("ramp"), "rw": "randread", "bs": "4k"}
        if r.get("status") != 0:
            errors.append(f"{label}: fio exited with status {r.get('status')}")
        elif fig is None:
            errors.append(f"{label}: no reads in fio's output {r.get('json_error', '')}".rstrip())
        elif fig["options"] != want:
            errors.append(f"{label}: fio ran with {fig['options']}, not {want}")
        else:
            per[(r["mode"], r["engine"], r["depth"])].append(fig)
    rounds = max((r["round"] for r in runs), default=0)
    check = meta.get("SHIM-CHECK", {})
    try:
        # The shim runs every read of a block device as a syslet chain of
        # its own: an atom for each read fio counted, and at most the
        # depth (16) more, in flight when the run ended.
        reads, atoms = int(check["reads"]), int(check["atoms"])
        shim_ok = check["status"] == "0" and reads > 0 and reads <= atoms <= reads + 16
    except (KeyError, ValueError):
        shim_ok = False
    if not shim_ok:
        errors.append(f"the shim's reads were not all syslet atoms: {check or 'no FIO-SHIM-CHECK'}")
    for mode, _ in MODES:
        for e, _, _ in ENGINES:
            for d in depths_of(e):
                if len(per[(mode, e, d)]) != rounds or rounds == 0:
                    errors.append(f"{mode} {e} depth {d}: {len(per[(mode, e, d)])} of {rounds} rounds")
    if errors:
        for e in errors:
            print(f"fio-report: {e}", file=sys.stderr)
        return 1

    table = {k: {f: med([x[f] for x in v]) for f in v[0] if f != "options"} for k, v in per.items()}
    prov = provenance(a.log, "scripts/guest/fio.sh")
    runtime = params.get("runtime", "?")

    out = []
    w = out.append
    w("# fio: 4 KiB random reads, five engines, on a virtio disk\n")
    w("Generated by `scripts/fio-report.py` from one guest boot running `scripts/guest/fio.sh` "
      "(what `make FLAVOR=perf bench-fio` runs), from fio's `--output-format=json`.\n")
    w(f"- kernel (guest `uname -r`, `uname -v`): `{meta.get('KERNEL', '?')}`, perf configuration "
      f"(`build/perf`), {meta.get('CPUS', '?')} CPUs")
    w(f"- git commit: `{prov['commit']}` ({prov['subject']})" +
      (" **with uncommitted changes**" if prov["dirty"] else ""))
    w(f"- {meta.get('VERSION', 'fio ?')} (Debian's package, dynamically linked, carried in the "
      "initramfs with its shared libraries); `libsyslet-aio.so` built from `lib-syslet/aio/`")
    w(f"- {prov['qemu_version']}, TCG (no KVM), plain wall time")
    w(f"- QEMU command line (scripts/qemu-run.sh):\n\n  `{prov['cmdline']}`")
    w(f"- disk: {meta.get('DEVICE', '?')}")
    w(f"- {rounds} rounds of the whole matrix in one boot, engines interleaved; "
      f"each run {runtime} s of `--time_based` I/O (ramp {params.get('ramp', '?')} s); "
      "figures are medians over the rounds")
    w(f"- generated {datetime.date.today().isoformat()}; host load average then "
      f"(1, 5, 15 min, on {os.cpu_count()} CPUs): {loadavg()}\n")
    w("Every run is one fio process (fio's default: the job forks): "
      f"`fio --name=... --filename=/dev/vda --readonly --rw=randread --bs=4k --direct=1|0 "
      f"--ioengine=E --iodepth=D --time_based --runtime={runtime} --output-format=json`. "
      "*Cold buffered*: the page cache is dropped (`echo 3 > /proc/sys/vm/drop_caches`) before each "
      "buffered run, fio itself invalidates the device's cache when it opens it, and fio's "
      "default `fadvise_hint` turns read-ahead off for random reads; *disk reads / read* "
      "(reads the device completed, from `/sys/block/vda/stat`, over the reads fio made) "
      "shows that every read went to the device.  psync makes one request at a time, so it "
      "runs at depth 1 only.\n")
    w("The disk image is a 1 GiB file of random bytes in the host's page cache (QEMU's "
      "default cache mode), so a read costs the guest's I/O path and QEMU's virtio emulation, "
      "not a physical disk: the figures compare how much each engine adds per request.  "
      "Wall time under TCG on a shared 2-core host: compare engines within a table, not "
      "across machines.\n")
    w("The shim really runs fio's reads as syslets: before the matrix, a 1 s shim run at depth "
      "16 with the `syslet_atom_exit` tracepoint on counted "
      f"{int(check['atoms']):,} atoms that read 4 KiB with pread64 for fio's "
      f"{int(check['reads']):,} reads (tracing is off for the measured runs).\n")
    w("Engines: " + "; ".join(f"**{n}**: {d}" for _, n, d in ENGINES) + ".\n")
    w("*CPU* is fio's `usr_cpu` / `sys_cpu`: the job process' user and system time (all its "
      "threads: glibc's AIO helpers, the shim's reaper and the syslet pool threads, io-wq "
      "workers) as a percentage of the run's wall time; *CPU µs / read* is the same time per "
      "read completed; *ctx / read* is fio's count of the process' context switches per read.\n")

    w("## IOPS\n")
    w("| engine | " + " | ".join(f"{m} QD {d}" for _, m in MODES for d in DEPTHS) + " |")
    w("|---|" + "---:|" * (len(MODES) * len(DEPTHS)))
    for e, n, _ in ENGINES:
        w(f"| {n} | " + " | ".join(fmt(table.get((mode, e, d), {}).get("iops"))
                                   for mode, _ in MODES for d in DEPTHS) + " |")
    w("")
    w("![fio IOPS and CPU per read](fio.png)\n")

    for mode, title in MODES:
        w(f"## {title}\n")
        w("| engine | depth | IOPS | × io_uring | usr % | sys % | CPU µs / read | ctx / read "
          "| mean latency (µs) | disk reads / read | IOPS per round |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for e, n, _ in ENGINES:
            for d in depths_of(e):
                f = table[(mode, e, d)]
                ref = table[(mode, "io_uring", d)]["iops"]
                each = ", ".join(fmt(x["iops"]) for x in per[(mode, e, d)])
                w(f"| {n} | {d} | {fmt(f['iops'])} | {f['iops'] / ref:.2f} | {fmt(f['usr'], 1)} | "
                  f"{fmt(f['sys'], 1)} | {fmt(f['cpu_us'], 1)} | {fmt(f['ctx'], 2)} | "
                  f"{fmt(f['lat_us'])} | {fmt(f.get('disk'), 2)} | {each} |")
        w("")

    w("## Targets of issue 15\n")
    w("The shim ≥ glibc posixaio and ≥ psync at every depth, and ≥ 0.7× io_uring at depth 16 "
      "(medians of this boot).  *Rounds overlap*: some round of the shim is on the other side "
      "of the line from some round of the peer, so host noise could turn the verdict.\n")
    w("| mode | check | shim IOPS | other IOPS | ratio | verdict |")
    w("|---|---|---:|---:|---:|---|")
    met = total = 0
    for mode, title in MODES:
        checks = []   # (label, depth of the shim, peer, depth of the peer, factor)
        for d in DEPTHS:
            checks.append((f"≥ glibc posixaio, QD {d}", d, "posixaio", d, 1.0))
            checks.append((f"≥ psync (QD 1), QD {d}", d, "psync", 1, 1.0))
        checks.append(("≥ 0.7× io_uring, QD 16", 16, "io_uring", 16, 0.7))
        for label, d, peer, pd, factor in checks:
            shim, other = table[(mode, "shim", d)]["iops"], table[(mode, peer, pd)]["iops"]
            ok = shim >= factor * other
            met += ok
            total += 1
            s_iops = [x["iops"] for x in per[(mode, "shim", d)]]
            o_iops = [factor * x["iops"] for x in per[(mode, peer, pd)]]
            overlap = min(s_iops) < max(o_iops) and max(s_iops) >= min(o_iops)
            w(f"| {title} | {label} | {fmt(shim)} | {fmt(other)} | {shim / other:.2f} | "
              f"{'met' if ok else '**not met**'}{' (rounds overlap)' if overlap else ''} |")
    w(f"\n{met} of {total} met.\n")

    png = os.path.join(outdir, "fio.png")
    if not plot(png, table):
        out = [x for x in out if "(fio.png)" not in x]
    with open(a.out, "w") as fh:
        fh.write("\n".join(out))
    print(f"fio-report: wrote {a.out}" + (f" and {png}" if os.path.exists(png) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

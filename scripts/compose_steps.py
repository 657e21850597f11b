"""The steps of ``make compose-check`` (see scripts/compose_check.py for the sequence and the why)."""

from __future__ import annotations

import gzip
import json
import subprocess
import tarfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts.compose_tools import DRAIN_SCRIPT, CheckFailed, Compose, StandIns, alert_cycle, streams_behind, wait_for
from scripts.compose_x11 import XDisplay, looks_drawn, xwd_to_png

__all__ = ["ONE_SHOTS", "TABLES", "Steps"]

# table -> the service whose failure leaves it empty
TABLES = {"dhan_instruments": "instruments", "dhan_quotes": "writer", "dhan_depth": "writer",
          "dhan_ticks": "writer", "dhan_trade_summary": "writer", "dhan_options_greeks": "greeks"}
ONE_SHOTS = ("dbinit", "instruments")
STREAMS = ("dhan:ticks", "dhan:quotes", "dhan:depth", "dhan:greeks")
WINDOWS = ("quote-board", "option-chain")
# The service process is docker-init's child; SIGKILL to it is a crash (as the OOM killer's), which the
# restart policy answers. `docker compose kill` is not: Docker records a kill through its API as a deliberate
# stop and leaves the container down whatever the policy.
_CRASH_SCRIPT = "kill -KILL $(cat /proc/1/task/1/children)"


class Steps:
    def __init__(self, compose: Compose, project: str, repo: Path, logs: Path, services: Sequence[str],
                 standins: StandIns | None = None) -> None:
        self.c = compose
        self.standins = standins
        self.project = project
        self.repo = repo
        self.logs = logs
        self.services = tuple(services)
        self.times: dict[str, float] = {}
        self.facts: dict[str, Any] = {}
        self.display = XDisplay()
        self.backup_counts: dict[str, int] = {}
        self.dump: Path | None = None
        self.viz_containers: list[str] = []

    def run_all(self, shots: Path) -> None:
        self.build()
        self.up()
        self.rows()
        self.crash_feed()
        self.verify_and_backup()
        self.restart_redis()
        self.visualizers(shots)
        self.down_and_up()
        self.restore_backup()

    # --- state ---
    def health_output(self, service: str) -> str:
        try:
            health = self.c.container(service).get("State", {}).get("Health") or {}
        except CheckFailed:
            return "no container"
        log = health.get("Log") or []
        text = log[-1].get("Output", "").strip() if log else ""
        return self.c.redact(text)[:200] if text else self.c.last_log_line(service)

    def wait_ready(self, services: Sequence[str], timeout_s: float, step: str) -> float:
        """Until every service is healthy (one-shots: exited 0); a failed one-shot stops the wait at once."""
        t0 = time.monotonic()
        while True:
            states = self.c.ps()
            pending = []
            for name in services:
                st = states.get(name)
                if st is not None and name in ONE_SHOTS and st.state == "exited" and st.exit_code != 0:
                    raise CheckFailed(f"{name}: exited {st.exit_code} during {step}: {self.c.last_log_line(name)}")
                if st is None or not st.ready:
                    pending.append((name, st.describe() if st else "no container"))
            if not pending:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout_s:
                name, state = pending[0]
                raise CheckFailed(f"{name}: not healthy within {timeout_s:.0f} s of {step} "
                                  f"({state}: {self.health_output(name)})")
            time.sleep(1)

    def counts(self) -> dict[str, int]:
        sql = " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM {t}" for t in TABLES)
        return {row[0]: int(row[1]) for row in self.c.mysql(sql)}

    def wait_more_ticks(self, timeout_s: float, what: str) -> float:
        base = self.counts()["dhan_ticks"]

        def more() -> tuple[bool, str]:
            n = self.counts()["dhan_ticks"]
            return n > base, f"dhan_ticks {n}, {base} before"

        return wait_for(more, timeout_s, what)

    # --- steps ---
    def build(self) -> None:
        t0 = time.monotonic()
        if self.standins is not None:
            self.standins.start("python")
            self.standins.wait()
            self.times["standin_python_s"] = time.monotonic() - t0
            self.standins.start("redis", "mysql")   # meanwhile: only up needs them
        proc = self.c.run("build", "feed", "viz", timeout_s=1800, service="build", check=False)
        if proc.returncode != 0:
            out = self.c.redact((proc.stdout + proc.stderr).decode(errors="replace"))
            failed = [ln for ln in out.splitlines() if ln.startswith("#") and (" builder " in ln or " runtime " in ln)]
            where = failed[-1].split("[", 1)[-1].split(" ", 1)[0] if failed else "feed or viz"
            last = next((ln for ln in reversed(out.splitlines()) if ln.strip()), "")
            raise CheckFailed(f"{where}: image build failed: {last.strip()[:300]}")
        if self.standins is not None:
            self.standins.wait()
        self.times["build_s"] = time.monotonic() - t0
        tag = self.c.env.get("DHAN_IMAGE_TAG") or _env_file(self.c.workdir).get("DHAN_IMAGE_TAG", "local")
        for kind in ("feed", "viz"):
            size = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", f"dhan-trading/{kind}:{tag}"],
                                  capture_output=True, check=True, timeout=60).stdout
            self.facts[f"{kind}_mb"] = int(size) / 1e6
        probe = subprocess.run(["docker", "run", "--rm", "--entrypoint", "sh", f"dhan-trading/feed:{tag}", "-c",
                                "command -v gcc cc x86_64-linux-gnu-gcc; ls -d /usr/include/linux 2>/dev/null"],
                               capture_output=True, timeout=120)
        if probe.stdout.strip():
            raise CheckFailed(f"feed: the runtime image holds build tools: {probe.stdout.decode().split()}")

    def up(self) -> None:
        t0 = time.monotonic()
        self.c.run("up", "-d", timeout_s=300, service="up")
        self.wait_ready(self.services, 180, "up")
        self.times["up_s"] = time.monotonic() - t0

    def rows(self) -> None:
        def filled() -> tuple[bool, str]:
            n = self.counts()
            empty = [t for t in TABLES if n.get(t, 0) == 0]
            return not empty, "; ".join(f"{TABLES[t]}: {t} empty" for t in empty)

        self.times["rows_s"] = wait_for(filled, 120, "rows in all six tables")

    def crash_feed(self) -> None:
        restarts = int(self.c.container("feed")["RestartCount"])
        t0 = time.monotonic()
        self.c.run("exec", "-T", "feed", "sh", "-c", _CRASH_SCRIPT, timeout_s=60, service="feed")

        def restarted() -> tuple[bool, str]:
            n = int(self.c.container("feed")["RestartCount"])
            return n > restarts, f"restart count {n}"

        wait_for(restarted, 60, "feed: restarted by Docker after SIGKILL", interval_s=0.5)
        self.wait_more_ticks(60, "feed: new ticks after its restart")
        self.times["feed_rows_s"] = time.monotonic() - t0
        self.wait_ready(["feed"], 90, "the feed's restart")
        self.times["feed_healthy_s"] = time.monotonic() - t0

    def verify_and_backup(self) -> None:
        self.c.run("stop", "feed", timeout_s=120, service="feed")

        def drained() -> tuple[bool, str]:
            out = self.c.run("exec", "-T", "redis", "sh", "-c", DRAIN_SCRIPT, "sh", *STREAMS, timeout_s=60,
                             service="redis").stdout.decode()
            behind = streams_behind(out)
            return not behind, "; ".join(behind)

        wait_for(drained, 90, "writer: streams drained after the feed stopped")
        self.verify()
        self.backup()
        self.c.run("start", "feed", timeout_s=120, service="feed")
        self.wait_ready(["feed"], 90, "starting the feed again")

    def verify(self) -> None:
        proc = self.c.run("run", "--rm", "--no-deps", "-T", "--entrypoint", "sh", "feed", "-c",
                          "exec dhan verify --json /var/lib/dhan/journal/*.djr", timeout_s=300, service="feed",
                          check=False)
        out = proc.stdout.decode(errors="replace")
        report = next((json.loads(ln) for ln in reversed(out.splitlines()) if ln.startswith('{"before"')), None)
        if report is None:
            raise CheckFailed(f"feed: dhan verify exited {proc.returncode} without a report: "
                              f"{self.c.redact(out.strip().splitlines()[-1] if out.strip() else 'no output')}")
        r = report["before"]
        self.facts["verify"] = r
        if r["trades"] == 0 or r["missing"] or r["duplicated"]:
            raise CheckFailed(f"writer: dhan verify: {r['trades']} trades in the journal, {r['missing']} lost, "
                              f"{r['duplicated']} duplicated")
        if proc.returncode != 0:
            raise CheckFailed(f"writer: dhan verify found {r['problems']} problem(s) besides trades: "
                              f"{json.dumps(r['examples'])[:300]}")

    def backup(self) -> None:
        self.backup_counts = self.counts()
        backups = self.c.workdir / "backups"
        for kind in ("full", "binlog"):
            proc = subprocess.run(["docker/backup.sh", kind], cwd=self.c.workdir, capture_output=True,
                                  env={**self.c.env, "BACKUP_DIR": str(backups)}, timeout=300, check=False)
            self.c.command(f"docker/backup.sh {kind}")
            self.c.log((proc.stdout + proc.stderr).decode(errors="replace"))
            if proc.returncode != 0:
                raise CheckFailed(f"mysql: docker/backup.sh {kind} exited {proc.returncode} (see compose.log)")
        dumps = sorted((backups / "full").glob("dhan_trading-*.sql.gz"))
        binlogs = sorted((backups / "binlog").glob("binlog.*"))
        if not dumps or not binlogs:
            raise CheckFailed(f"mysql: backup.sh left {len(dumps)} dump(s) and {len(binlogs)} binlog(s)")
        self.dump = dumps[-1]
        # the journal archived as the README says: our own image, as root for the host directory
        self.c.run("run", "--rm", "--no-deps", "-T", "--user", "0", "-v", f"{backups}:/b", "--entrypoint", "tar",
                   "feed", "czf", "/b/journal.tgz", "-C", "/var/lib/dhan/journal", ".", timeout_s=120,
                   service="feed")
        with tarfile.open(backups / "journal.tgz") as tgz:
            journals = [n for n in tgz.getnames() if n.endswith(".djr")]
        if not journals:
            raise CheckFailed("feed: the journal archive holds no .djr file")
        self.facts["backup"] = (f"{self.dump.stat().st_size / 1e3:.0f} kB dump, {len(binlogs)} binlog(s), "
                                f"{len(journals)} journal file(s)")

    def restart_redis(self) -> None:
        since = time.time()
        t0 = time.monotonic()
        self.c.run("restart", "redis", timeout_s=120, service="redis")
        self.wait_more_ticks(60, "feed and writer: new ticks after the Redis restart")
        self.times["redis_rows_s"] = time.monotonic() - t0
        self.wait_ready(["redis", "feed", "writer"], 90, "restart redis")
        self.times["redis_healthy_s"] = time.monotonic() - t0

        def alerted() -> tuple[bool, str]:
            out = self.c.redis("XRANGE", "dhan:alerts", str(int(since * 1000) - 1000), "+")
            return alert_cycle(out, "redis_unreachable", since - 1)

        wait_for(alerted, 60, "monitor: redis_unreachable alert fired and cleared")

    def visualizers(self, shots: Path) -> None:
        display = self.display.start()
        for name in WINDOWS:
            self.draw(name, display, shots)
        self.display.stop()
        # closing remembered each window's geometry in the desktop-config volume, as the service user
        out = self.c.run("run", "--rm", "--no-deps", "-T", "--entrypoint", "sh", "viz", "-c",
                         "stat -c '%u %n' /home/dhan/.config/dhan-trading/*", timeout_s=120, service="viz",
                         check=False).stdout.decode()
        if not out.startswith("10001 "):
            raise CheckFailed(f"viz: no window settings saved by uid 10001 in the desktop-config volume ({out!r})")

    def draw(self, name: str, display: str, shots: Path) -> None:
        container = f"{self.project}-viz-{name}"
        self.viz_containers.append(container)
        log = (self.logs / f"viz-{name}.log").open("w")
        proc = subprocess.Popen(["docker", "compose", "run", "--rm", "-T", "--name", container, "viz", name],
                                cwd=self.c.workdir, env={**self.c.env, "DISPLAY": display},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        loaded = threading.Event()
        last: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = self.c.redact(raw.decode(errors="replace").rstrip())
                log.write(line + "\n")
                last[:] = [line]
                if '"viz_loaded"' in line:
                    loaded.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            wait_for(lambda: (loaded.is_set() or proc.poll() is not None, last[0] if last else "no output"),
                     150, f"viz: {name} drawing its data on {display}", interval_s=0.25)
            if not loaded.is_set():
                raise CheckFailed(f"viz: {name} exited {proc.returncode} before drawing: {last[0] if last else ''}")
            png, width, height = xwd_to_png(self.display.grab())
            drawn, how = looks_drawn(png)
            shots.mkdir(parents=True, exist_ok=True)
            (shots / f"compose-{name}.png").write_bytes(png)
            if not drawn:
                raise CheckFailed(f"viz: {name} on {display} shows no data ({how}; see compose-{name}.png)")
            self.facts.setdefault("shots", []).append(f"compose-{name}.png {width}x{height}, {how}")
        finally:
            subprocess.run(["docker", "stop", "-t", "15", container], capture_output=True, timeout=60)
            code = proc.wait(60)
            reader.join(10)
            log.close()
        if code != 0:
            raise CheckFailed(f"viz: {name} exited {code} after SIGTERM (see viz-{name}.log)")

    def journal_sizes(self) -> dict[str, int]:
        out = self.c.run("exec", "-T", "feed", "sh", "-c",
                         'cd /var/lib/dhan/journal && for f in *.djr; do echo "$f $(wc -c < "$f")"; done',
                         timeout_s=60, service="feed").stdout.decode()
        return {name: int(size) for name, size in (ln.split() for ln in out.splitlines() if ln.strip())}

    def down(self, *flags: str) -> None:
        """``docker compose down`` with every profile (the volumes of viz/control too), logs saved first."""
        logs = self.c.run("logs", "--no-color", "--timestamps", timeout_s=120, service="logs", check=False)
        with (self.logs / "services.log").open("a") as f:
            f.write(self.c.clean(logs.stdout.decode(errors="replace")))
        profiles = [arg for p in ("sim", "viz", "control") for arg in ("--profile", p)]
        self.c.run(*profiles, "down", *flags, timeout_s=300, service="down", check="-v" not in flags)

    def down_and_up(self) -> None:
        before, journal = self.counts(), self.journal_sizes()
        self.down()
        t0 = time.monotonic()
        self.c.run("up", "-d", timeout_s=300, service="up")
        self.wait_ready(self.services, 180, "up after down")
        self.times["up_again_s"] = time.monotonic() - t0
        after = self.counts()
        lost = [f"{t} {after[t]} < {before[t]}" for t in TABLES if after.get(t, 0) < before[t]]
        if lost:
            raise CheckFailed(f"mysql: rows gone after down and up: {', '.join(lost)}")
        now = self.journal_sizes()
        gone = [f for f, size in journal.items() if now.get(f, 0) < size]
        if gone:
            raise CheckFailed(f"feed: journal files gone or shorter after down and up: {gone}")
        who = self.c.run("exec", "-T", "feed", "sh", "-c", "id -u; test -w /var/lib/dhan/journal && "
                         "test -w /var/lib/dhan/spool && echo writable", timeout_s=60, service="feed").stdout.split()
        if who != [b"10001", b"writable"]:
            raise CheckFailed(f"feed: volumes not writable by the service user: {who}")
        total = sum(now.values())
        wait_for(lambda: (sum(self.journal_sizes().values()) > total, f"{total} bytes"), 60,
                 "feed: the journal grows again after up")

    def restore_backup(self) -> None:
        """The README's restore into a fresh volume: new mysql volume, users from .env, the dump piped in."""
        assert self.dump is not None
        self.down()
        subprocess.run(["docker", "volume", "rm", f"{self.project}_mysql-data"], capture_output=True, check=True,
                       timeout=60)
        t0 = time.monotonic()
        self.c.run("up", "-d", "mysql", timeout_s=300, service="mysql")
        self.wait_ready(["mysql"], 120, "up on a fresh volume")
        self.c.run("exec", "-T", "mysql", "sh", "-c", 'exec mysql -uroot -p"$MYSQL_ROOT_PASSWORD"',
                   stdin=gzip.decompress(self.dump.read_bytes()), timeout_s=300, service="mysql")
        restored = self.counts()
        wrong = [f"{t} {restored.get(t)} != {n}" for t, n in self.backup_counts.items() if restored.get(t) != n]
        if wrong:
            raise CheckFailed(f"mysql: the restore differs from the backup: {', '.join(wrong)}")
        self.c.run("run", "--rm", "--no-deps", "dbinit", "db", "status", timeout_s=120, service="dbinit")
        self.times["restore_s"] = time.monotonic() - t0

    def teardown(self) -> None:
        self.display.stop()
        if self.standins is not None:
            self.standins.stop()
        for container in self.viz_containers:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=60)
        self.down("-v", "--remove-orphans", "--timeout", "20")
        left = subprocess.run(["docker", "volume", "ls", "-q", "--filter",
                               f"label=com.docker.compose.project={self.project}"],
                              capture_output=True, timeout=60).stdout.split()
        if left:
            print(f"compose-check: volumes left behind: {[v.decode() for v in left]}")

    def summary(self) -> str:
        t, f = self.times, self.facts
        v = f.get("verify", {})
        build = f"build {t.get('build_s', 0):.0f} s" + (f" (python stand-in {t['standin_python_s']:.0f} s of it)"
                                                        if "standin_python_s" in t else "")
        return (f"compose-check: OK in {t.get('total_s', 0) / 60:.1f} min | {build} | up->healthy "
                f"{t.get('up_s', 0):.0f} s (again {t.get('up_again_s', 0):.0f} s) | feed SIGKILL->new rows "
                f"{t.get('feed_rows_s', 0):.0f} s, healthy {t.get('feed_healthy_s', 0):.0f} s; verify "
                f"{v.get('trades', 0):,} trades 0 lost 0 duplicated | restart redis->new rows "
                f"{t.get('redis_rows_s', 0):.0f} s, healthy {t.get('redis_healthy_s', 0):.0f} s, alert fired+cleared"
                f" | restore {t.get('restore_s', 0):.0f} s | images feed {f.get('feed_mb', 0):.0f} MB, "
                f"viz {f.get('viz_mb', 0):.0f} MB")


def _env_file(workdir: Path) -> dict[str, str]:
    lines = (workdir / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))

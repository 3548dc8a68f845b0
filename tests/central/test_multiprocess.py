"""``rocars-central --processes 2``: real supervisor and child processes on one port and
one SQLite file, driven through real gRPC channels (one TCP connection each, so the
kernel's SO_REUSEPORT spreading is what the test sees), and the cross-process writer
lock held from this process through the lock file itself."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from central import pki
from central.api.convert import ts_of
from central.client import Stubs, open_channel, stubs_for
from central.services.bootstrap import bootstrap
from central.store import db as store_db
from central.store.db import WalCheckpointer, WriteLockTimeout, close_all, write_transaction
from central.store.schema import init_database
from central.supervisor import RestartPolicy, Supervisor, SupervisorError
from proto.rocars.v1 import cargo_pb2, common_pb2, diagnostics_pb2, registration_pb2

pytestmark = pytest.mark.slow
START_TIMEOUT_S = 60
# One expected crossing for every submission: a retry must repeat its request exactly.
EXPECTED_AT = ts_of((datetime.now(UTC) + timedelta(hours=6)).replace(second=0, microsecond=0))


def channel(port: int) -> grpc.Channel:
    # A local subchannel pool: without it channels with equal arguments share one TCP
    # connection, and every call would land on the same child.
    return grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class Cluster:
    proc: subprocess.Popen[str]
    port: int
    database: Path
    log_path: Path
    officer_token: str
    channels: list[grpc.Channel]
    metrics_port: int = 0

    def child_pids(self) -> set[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        with contextlib.suppress(FileNotFoundError):
            return {int(p) for p in path.read_text().split()}
        return set()

    def stubs(self, token: str) -> Stubs:
        ch = channel(self.port)
        self.channels.append(ch)
        return stubs_for(ch, token)

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                records.append(json.loads(line))
        return records

    def count(self, sql: str) -> int:
        con = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10)
        try:
            return int(con.execute(sql).fetchone()[0])
        finally:
            con.close()


def start_supervisor(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    log_path = tmp_path / "central.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "central.server", "--listen", "127.0.0.1:0",
             "--database", f"sqlite:///{tmp_path / 'central.db'}", "--processes", "2", *extra],
            stdout=subprocess.PIPE, stderr=log_file, text=True, start_new_session=True,
        )  # fmt: skip
    return proc, log_path


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextlib.contextmanager
def running_cluster(tmp_path: Path, *extra: str) -> Iterator[Cluster]:
    database = tmp_path / "central.db"
    init_database(f"sqlite:///{database}")
    _officer, officer_token, _created = bootstrap("MP-1", "Officer Chan", datetime.now(UTC))
    close_all()
    proc, log_path = start_supervisor(tmp_path, *extra)
    under_test = Cluster(proc, 0, database, log_path, officer_token, [])
    try:
        line = _readline(proc, START_TIMEOUT_S)
        match = re.match(r"LISTENING port=(\d+) lane_port=0( metrics_port=(\d+))?$", line.strip())
        assert match, f"no LISTENING line: {line!r}; log: {log_path.read_text()[-2000:]}"
        under_test.port = int(match.group(1))
        under_test.metrics_port = int(match.group(3) or 0)
        yield under_test
    finally:
        for ch in under_test.channels:
            ch.close()
        stop(proc)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One supervisor with two children, shared by the tests that leave it running."""
    with running_cluster(tmp_path_factory.mktemp("cluster")) as under_test:
        yield under_test


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path) as under_test:
        yield under_test


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.readline() if proc.stdout else ""))
    reader.start()
    reader.join(timeout)
    return out[0] if out else ""


def company_token(cluster: Cluster, brn: str) -> str:
    officer = cluster.stubs(cluster.officer_token)
    reply = officer.registration.RegisterCompany(
        registration_pb2.RegisterCompanyRequest(
            company=registration_pb2.Company(
                kind=common_pb2.SHIPPER, brn=brn, name=f"Shipper {brn}", address="1 Test Road",
                contact_name="T", contact_phone="+852 2000 0000",
            )
        ),
        timeout=10,
    )  # fmt: skip
    return str(reply.api_token)


def submission(key: str, n: int) -> cargo_pb2.SubmitConsignmentRequest:
    return cargo_pb2.SubmitConsignmentRequest(
        idempotency_key=key,
        direction=common_pb2.IMPORT,
        control_point="LMC",
        cargo=cargo_pb2.CargoDetails(
            packages_count=1 + n % 50, package_description="cartons", article_description=f"lot {n}",
            consignor_name="Shenzhen Bright Home Co", consignor_address="18 Futian Road, Shenzhen",
            consignee_name="Kowloon Household Retail Ltd", consignee_address="2 Canton Road, Kowloon",
            expected_at=EXPECTED_AT,
        ),
    )  # fmt: skip


def test_children_share_the_port_and_write_one_database_exactly(cluster: Cluster) -> None:
    children = cluster.child_pids()
    assert len(children) == 2, children
    token = company_token(cluster, "20000001")
    clients = [cluster.stubs(token) for _ in range(16)]

    def file_batch(c: int) -> list[str]:
        return [
            clients[c].cargo.SubmitConsignment(submission(f"multiproc-{c}-{i}", i), timeout=20).ccrn
            for i in range(6)
        ]

    with ThreadPoolExecutor(max_workers=16) as pool:
        ccrns = [x for batch in pool.map(file_batch, range(16)) for x in batch]
    assert len(ccrns) == 96 and len(set(ccrns)) == 96
    assert cluster.count("SELECT COUNT(*) FROM consignment") == 96

    # Both children answered: each logs its own pid with every call.
    served_by = {
        r["worker_pid"] for r in cluster.log_records()
        if r.get("rpc_method", "").endswith("/SubmitConsignment") and r.get("outcome") == "OK"
    }  # fmt: skip
    assert served_by == children

    # A client retrying over fresh connections (so on either child) gets the same CCRN.
    def retry(c: int) -> set[str]:
        return {
            cluster.stubs(token).cargo.SubmitConsignment(submission(f"multiproc-{c}-0", 0), timeout=20).ccrn
            for _ in range(4)
        }

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(retry, range(8)))
    assert [a for a in answers] == [{ccrns[6 * c]} for c in range(8)]
    assert cluster.count("SELECT COUNT(*) FROM consignment") == 96


def test_children_queue_on_the_lock_file_this_process_holds(cluster: Cluster) -> None:
    token = company_token(cluster, "20000002")
    stubs = cluster.stubs(token)
    with open(f"{cluster.database}.writer-lock", "ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        future = stubs.cargo.SubmitConsignment.future(submission("held-lock-1", 1), timeout=20)
        time.sleep(1.0)
        assert not future.done(), "a child wrote while another process held the writer lock"
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
    assert future.result(timeout=20).ccrn


def test_writer_lock_times_out_with_a_clear_error(tmp_path: Path) -> None:
    database = tmp_path / "central.db"
    init_database(f"sqlite:///{database}")
    try:
        lock_path = f"{database}.writer-lock"
        with open(lock_path, "ab") as held:  # the same file the writers open (or create)
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            started = time.monotonic()
            with (
                pytest.raises(WriteLockTimeout, match=re.escape(lock_path)),
                write_transaction(timeout_s=0.3),
            ):
                pass
            assert 0.3 <= time.monotonic() - started < 2.0
            fcntl.flock(held.fileno(), fcntl.LOCK_UN)
        with write_transaction(timeout_s=0.3):  # free again: no leftover state
            pass
        assert not store_db._SQLITE_WRITER.locked()
    finally:
        close_all()


def test_killed_child_is_restarted_and_sigterm_ends_everything(own_cluster: Cluster) -> None:
    cluster = own_cluster
    first = cluster.child_pids()
    victim = min(first)
    os.kill(victim, signal.SIGKILL)

    def replacement() -> set[int] | None:
        pids = cluster.child_pids()
        return pids if len(pids) == 2 and victim not in pids else None

    replaced = wait_for(replacement, 30, "a replacement child")
    wait_for(
        lambda: any(r.get("msg") == "child back" for r in cluster.log_records()), 30, "the child to be back"
    )
    token = company_token(cluster, "20000003")
    ccrns = {cluster.stubs(token).cargo.SubmitConsignment(submission(f"after-kill-{i}", i), timeout=20).ccrn
             for i in range(12)}  # fmt: skip
    assert len(ccrns) == 12
    records = cluster.log_records()
    died = [r for r in records if r.get("msg") == "child died; restarting"]
    back = [r for r in records if r.get("msg") == "child back"]
    assert [r["pid"] for r in died] == [victim] and len(back) == 1, (died, back)

    cluster.proc.send_signal(signal.SIGTERM)
    assert cluster.proc.wait(timeout=25) == 0
    for pid in replaced | first:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie_or_gone(pid), pid


def _is_zombie_or_gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_child_failing_at_start_stops_the_supervisor_nonzero(tmp_path: Path) -> None:
    proc, log_path = start_supervisor(tmp_path, "--call-workers", "0")
    try:
        assert proc.wait(timeout=START_TIMEOUT_S) == 1
        assert "must be at least 1" in log_path.read_text()
    finally:
        stop(proc)


def test_a_port_another_server_listens_on_is_refused(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # even one we could join
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        proc, log_path = start_supervisor(tmp_path, "--listen", f"127.0.0.1:{port}")
        try:
            assert proc.wait(timeout=START_TIMEOUT_S) == 1
            assert "port in use" in log_path.read_text()
        finally:
            stop(proc)


def test_echo_over_many_fresh_connections_all_answered(cluster: Cluster) -> None:
    """The reservation socket is bound, never listening: no connection may land on it."""
    echo = [cluster.stubs(cluster.officer_token).diagnostics for _ in range(40)]
    replies = [
        stub.Echo(diagnostics_pb2.EchoRequest(message=f"m{i}"), timeout=10) for i, stub in enumerate(echo)
    ]
    assert [r.message for r in replies] == [f"m{i}" for i in range(40)]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_supervisor_serves_the_childrens_metrics_summed_and_cleans_up(tmp_path: Path) -> None:
    with running_cluster(tmp_path, "--metrics-listen", "127.0.0.1:0") as cluster:
        assert cluster.metrics_port
        children = cluster.child_pids()
        dirs = {
            dict(
                item.split("=", 1)
                for item in Path(f"/proc/{pid}/environ").read_text().split("\0")
                if "=" in item
            ).get("PROMETHEUS_MULTIPROC_DIR")
            for pid in children
        }
        assert len(dirs) == 1 and None not in dirs, dirs
        metrics_dir = Path(str(next(iter(dirs))))
        assert metrics_dir.is_dir() and oct(metrics_dir.stat().st_mode & 0o777) == "0o700"
        token = company_token(cluster, "20000004")
        clients = [cluster.stubs(token) for _ in range(12)]
        for i, client in enumerate(clients * 2):
            client.cargo.SubmitConsignment(submission(f"metrics-{i:04d}", i), timeout=20)
        served_by = {
            r["worker_pid"] for r in cluster.log_records()
            if r.get("rpc_method", "").endswith("/SubmitConsignment")
        }  # fmt: skip
        assert served_by == children  # so the sum below really adds two processes
        samples = scrape(cluster.metrics_port)
        assert samples["rocars_central_submissions_total"] == 24
        cluster.proc.send_signal(signal.SIGTERM)
        assert cluster.proc.wait(timeout=25) == 0
    assert not metrics_dir.exists()


def test_single_process_serves_its_own_metrics(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "central.server", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
         "--database", f"sqlite:///{tmp_path / 'central.db'}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        match = re.match(r"LISTENING port=\d+ lane_port=0 metrics_port=(\d+)$", _readline(proc, 60).strip())
        assert match
        assert "rocars_central_submissions_total" in scrape(int(match.group(1)))
    finally:
        stop(proc)


def test_children_stop_when_the_supervisor_is_killed(own_cluster: Cluster) -> None:
    children = own_cluster.child_pids()
    assert len(children) == 2
    own_cluster.proc.kill()  # SIGKILL: nothing is forwarded; the children must notice
    own_cluster.proc.wait(timeout=10)
    wait_for(lambda: all(_is_zombie_or_gone(pid) for pid in children), 20, "the orphaned children to stop")


# A stand-in child (a real process): appends its start time to a file; the first one
# reports LISTENING and dies 0.3 s later, every later one dies at once, before it is up.
FLAKY_CHILD = """
import sys, time
path = sys.argv[1]
with open(path, "a") as fh:
    fh.write(f"{time.monotonic()}\\n")
if len(open(path).read().split()) == 1:
    print("LISTENING port=1 lane_port=0", flush=True)
    time.sleep(0.3)
sys.exit(3)
"""


def test_restarts_back_off_doubling_and_give_up_after_repeated_start_failures(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    policy = RestartPolicy(first_delay_s=0.1, max_delay_s=0.4, max_start_failures=4, start_timeout_s=10)
    supervisor = Supervisor([sys.executable, "-c", FLAKY_CHILD, str(starts)], 1, policy=policy)
    try:
        assert supervisor.start() == (1, 0)
        with pytest.raises(SupervisorError, match="failed 4 times in a row"):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                supervisor.tick()
                time.sleep(0.01)
    finally:
        supervisor.stop(timeout_s=5)
        supervisor.stop(timeout_s=5)  # safe twice
    times = [float(x) for x in starts.read_text().split()]
    assert len(times) == 5  # the first start, then four failed restarts
    gaps = [b - a for a, b in itertools.pairwise(times[1:])]
    # Delays 0.2, 0.4 (the cap), 0.4 between the failed restarts, plus start-up time.
    for gap, delay in zip(gaps, [0.2, 0.4, 0.4], strict=True):
        assert delay <= gap < delay + 1.0, gaps


def test_wal_checkpointer_copies_pages_that_writers_leave_behind(tmp_path: Path) -> None:
    database = tmp_path / "central.db"
    db = init_database(f"sqlite:///{database}")
    checkpointer = WalCheckpointer(str(database), interval_s=0.02)
    try:
        db.execute_sql("CREATE TABLE filler (x BLOB)")
        size_before = database.stat().st_size
        with write_transaction():
            for _ in range(200):
                db.execute_sql("INSERT INTO filler VALUES (randomblob(2000))")
        time.sleep(0.3)
        # Writers leave ~100 pages in the WAL: far below their own checkpoint threshold.
        assert database.stat().st_size == size_before
        checkpointer.start()
        wait_for(lambda: database.stat().st_size > size_before + 300_000, 5, "the checkpoint")
    finally:
        checkpointer.stop()
        checkpointer.stop()  # safe twice
        close_all()


def test_both_listeners_are_shared_with_tls_and_mutual_tls(tmp_path: Path) -> None:
    ca = pki.create_ca()
    ca_pem, _ = pki.write_pair(tmp_path, "ca", ca)
    cert, key = pki.write_pair(tmp_path, "server", pki.issue_server(ca, ["localhost", "127.0.0.1"]))
    gateway_cert, gateway_key = pki.write_pair(tmp_path, "gw", pki.issue_elock_gateway(ca, "GW01"))
    proc, log_path = start_supervisor(
        tmp_path, "--lane-listen", "127.0.0.1:0", "--tls-cert", str(cert), "--tls-key", str(key),
        "--client-ca", str(ca_pem),
    )  # fmt: skip
    try:
        line = _readline(proc, START_TIMEOUT_S)
        match = re.match(r"LISTENING port=(\d+) lane_port=(\d+)$", line.strip())
        assert match, f"{line!r}: {log_path.read_text()[-2000:]}"
        port, lane_port = int(match.group(1)), int(match.group(2))
        assert lane_port not in (0, port)
        for _ in range(6):  # fresh connections: either child may answer
            with open_channel(
                f"localhost:{lane_port}", tls_ca=ca_pem, client_cert=gateway_cert, client_key=gateway_key
            ) as lane_channel:
                me = stubs_for(lane_channel, None).registration.WhoAmI(
                    registration_pb2.WhoAmIRequest(), timeout=10
                )
                assert me.role == common_pb2.ELOCK_GATEWAY
            with (
                open_channel(f"localhost:{lane_port}", tls_ca=ca_pem) as no_cert,
                pytest.raises(grpc.RpcError),
            ):
                stubs_for(no_cert, None).registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=5)
            # The token listener speaks TLS: the handshake works, and no token means refused.
            with (
                open_channel(f"localhost:{port}", tls_ca=ca_pem) as token_channel,
                pytest.raises(grpc.RpcError) as refused,
            ):
                stubs_for(token_channel, None).diagnostics.Echo(
                    diagnostics_pb2.EchoRequest(message="x"), timeout=10
                )
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        stop(proc)


def test_several_processes_on_postgresql_need_a_shared_risk_key_file(tmp_path: Path) -> None:
    """Without a configured key file each process would invent its own selection and audit
    keys: refused before anything starts (nothing is listening, no database is touched)."""
    env = {k: v for k, v in os.environ.items() if k != "ROCARS_RISK_KEY_FILE"}
    command = [sys.executable, "-m", "central.server", "--listen", "127.0.0.1:0", "--processes", "2",
               "--database", "postgresql://nobody@127.0.0.1:1/none"]
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "[risk] key_file" in refused.stderr and "ROCARS_RISK_KEY_FILE" in refused.stderr
    config = tmp_path / "central.toml"
    config.write_text(f'[risk]\nkey_file = "{tmp_path / "risk.key"}"\n')
    # With the key file configured it gets past that check and fails only on the database.
    accepted = subprocess.run([*command, "--config", str(config)], env=env, capture_output=True, text=True,
                              timeout=60)
    assert "key_file" not in accepted.stderr
    assert accepted.returncode != 0

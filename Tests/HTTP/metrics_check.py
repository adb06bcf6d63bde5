"""/metrics after a known workload, parsed with prometheus_client's text parser: exact counts.

python metrics_check.py --brook PATH --line HOST:PORT --http HOST:PORT
"""
import argparse
import socket
import subprocess
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

parser = argparse.ArgumentParser()
parser.add_argument("--brook", required=True)
parser.add_argument("--line", required=True)
parser.add_argument("--http", required=True)
args = parser.parse_args()


def brook(*arguments, stdin=None):
    result = subprocess.run([args.brook, *arguments, "--server", args.line], input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAIL: brook {' '.join(arguments)}: {result.stderr}")
    return result.stdout


def get(path):
    try:
        with urllib.request.urlopen(f"http://{args.http}{path}") as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(path="/metrics"):
    status, text = get(path)
    assert status == 200, f"{path} answered {status}"
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))))


def expect(what, expected, actual):
    if expected != actual:
        sys.exit(f"FAIL: {what}: expected {expected!r}, got {actual!r}")
    print(f"ok: {what}")


status, body = get("/readyz")
expect("/readyz once serving", (200, "ready\n"), (status, body))
expect("/livez", 200, get("/livez")[0])

# The workload: 2 partitions, 10 keyed records of known sizes to 'orders' (keys k0..k9, values
# v-0..v-9, 2 + 3 bytes each), 4 records to 'scratch', which is then deleted.
brook("topics", "create", "orders", "--partitions", "2")
brook("topics", "create", "scratch")
lines = "".join(f"k{i}\tv-{i}\n" for i in range(10))
offsets = brook("produce", "orders", "--parse-key", "--print-offsets", stdin=lines)
per_partition = {}
for line in offsets.split():
    partition, offset = line.split(":")
    per_partition[int(partition)] = per_partition.get(int(partition), 0) + 1
brook("produce", "scratch", stdin="a\nb\nc\nd\n")
before_delete = samples()
expect("records produced to scratch", 4.0, value(before_delete, "brook_produced_records_total", topic="scratch"))
brook("topics", "delete", "scratch")

# A group that read 3 records of partition 0 and all of partition 1 (reset, no live members).
brook("groups", "reset", "billing", "--topic", "orders", "--to-offset", "3")
# Fetch everything once through the line protocol: 10 records, 50 bytes.
consumed = brook("consume", "orders", "--from-beginning", "--max-messages", "10", "--timeout-ms", "2000")
expect("records consumed", 10, len(consumed.split()))

found = samples()
expect("brook_produced_records_total{topic=orders}", 10.0, value(found, "brook_produced_records_total", topic="orders"))
expect("brook_produced_bytes_total{topic=orders}", 50.0, value(found, "brook_produced_bytes_total", topic="orders"))
expect("brook_fetched_records_total{topic=orders}", 10.0, value(found, "brook_fetched_records_total", topic="orders"))
expect("brook_fetched_bytes_total{topic=orders}", 50.0, value(found, "brook_fetched_bytes_total", topic="orders"))
for partition in (0, 1):
    expect(f"brook_partition_high_watermark{{orders,{partition}}}", float(per_partition.get(partition, 0)),
           value(found, "brook_partition_high_watermark", topic="orders", partition=str(partition)))
    expect(f"brook_partition_log_start_offset{{orders,{partition}}}", 0.0,
           value(found, "brook_partition_log_start_offset", topic="orders", partition=str(partition)))
lags = [max(0, per_partition.get(p, 0) - 3) for p in (0, 1)]
expect("brook_group_lag_sum{billing}", float(sum(lags)), value(found, "brook_group_lag_sum", group="billing"))
expect("brook_group_lag_max{billing}", float(max(lags)), value(found, "brook_group_lag_max", group="billing"))
expect("no per-partition lag unless asked", [], [k for k in found if k[0] == "brook_group_partition_lag"])
detailed = samples("/metrics?lag=partition")
expect("brook_group_partition_lag{billing,orders,1}", float(lags[1]),
       value(detailed, "brook_group_partition_lag", group="billing", topic="orders", partition="1"))
expect("a deleted topic has no series", [], [k for k in found if ("topic", "scratch") in k[1]])
# The writer committed: creating and deleting topics, producing, the group's reset.
commits = value(found, "brook_commit_duration_seconds_count", fsync="false")
expect("commits are timed", True, commits is not None and commits >= 2)
expect("a histogram bucket below a millisecond", True,
       value(found, "brook_commit_duration_seconds_bucket", fsync="false", le="0.0005") is not None)
requests = value(found, "brook_group_commit_requests_sum")
expect("requests per group commit recorded", True, requests is not None and requests >= commits)


def eventually(name, wanted, **labels):
    """Scrapes until the sample has the wanted value (connections close and retention runs on
    their own time); fails after 20 s."""
    deadline = time.monotonic() + 20
    while True:
        got = value(samples(), name, **labels)
        if got == wanted or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


host, port = args.line.rsplit(":", 1)
with socket.create_connection((host, int(port))) as held:
    held.recv(1024)  # the greeting: the connection is admitted
    expect("brook_connections{line} with one connection open", 1.0, eventually("brook_connections", 1.0, protocol="line"))
expect("brook_connections{line} once it closed", 0.0, eventually("brook_connections", 0.0, protocol="line"))

# Retention: 3 records older than retention.ms=1 are deleted by the server's next pass.
brook("topics", "create", "old", "--retention-ms", "60000")
brook("produce", "old", stdin="x\ny\nz\n")
brook("topics", "alter", "old", "--retention-ms", "1")
expect("brook_retention_deleted_records_total{topic=old}", 3.0,
       eventually("brook_retention_deleted_records_total", 3.0, topic="old"))
expect("brook_database_file_bytes", True, value(found, "brook_database_file_bytes") > 0)
expect("brook_wal_file_bytes present", True, value(found, "brook_wal_file_bytes") is not None)

# Requests by protocol and API: five PINGs and one refused FETCH on a raw connection.
before = samples()
with socket.create_connection((host, int(port))) as raw:
    reader = raw.makefile("rb")
    reader.readline()  # the greeting
    for _ in range(5):
        raw.sendall(b"PING\r\n")
        assert reader.readline().startswith(b"OK PONG")
    raw.sendall(b"FETCH nowhere 0 0\r\n")
    assert reader.readline().startswith(b"ERR UNKNOWN_TOPIC")
after = samples()


def delta(name, **labels):
    return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)


expect("brook_requests_total{line,PING} grew by 5", 5.0, delta("brook_requests_total", protocol="line", api="PING"))
expect("brook_request_duration_seconds_count{line,PING} grew by 5", 5.0,
       delta("brook_request_duration_seconds_count", protocol="line", api="PING"))
expect("brook_requests_total{line,FETCH} grew by 1", 1.0, delta("brook_requests_total", protocol="line", api="FETCH"))
expect("brook_request_failures_total{line,FETCH} grew by 1", 1.0,
       delta("brook_request_failures_total", protocol="line", api="FETCH"))
expect("brook_request_failures_total{line,PING} unchanged", 0.0, delta("brook_request_failures_total", protocol="line", api="PING"))
expect("a request bucket at 10 microseconds", True,
       value(after, "brook_request_duration_seconds_bucket", protocol="line", api="PING", le="0.00001") is not None)
print("metrics checks passed")

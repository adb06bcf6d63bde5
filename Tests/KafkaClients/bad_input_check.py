"""Bad input on the Kafka port closes that connection only, and nothing answers it; ApiVersions
above Brook's versions gets UNSUPPORTED_VERSION with the list of Brook's APIs."""
import socket
import struct
import sys

host, port = sys.argv[1].rsplit(":", 1)
address = (host, int(port))


def check(condition, message):
    if not condition:
        sys.exit(f"FAIL: bad input: {message}")


def closes(payload, name):
    with socket.create_connection(address, timeout=10) as s:
        s.sendall(payload)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        check(data == b"", f"{name}: got {len(data)} bytes before the close")
    print(f"ok: {name} closes the connection")


def header(api_key, version, correlation, client=b"check"):
    return struct.pack(">hhih", api_key, version, correlation, len(client)) + client


def frame(body):
    return struct.pack(">i", len(body)) + body


def api_versions(s, version, correlation):
    s.sendall(frame(header(18, version, correlation)))
    size = struct.unpack(">i", recv_exactly(s, 4))[0]
    body = recv_exactly(s, size)
    got_correlation, error, count = struct.unpack(">ihi", body[:10])
    apis = {struct.unpack(">hhh", body[10 + 6 * i:16 + 6 * i])[0]: struct.unpack(">hhh", body[10 + 6 * i:16 + 6 * i])[1:] for i in range(count)}
    return got_correlation, error, apis


def recv_exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        check(chunk, f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


closes(b"\xff\xff\xff\xf0", "a negative request size")
closes(struct.pack(">i", 0x7FFFFFFF) + b"x" * 100, "a request size over the maximum")
closes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "an HTTP request (garbage)")
closes(frame(header(999, 0, 1)), "an unknown API key")
closes(frame(header(3, 1, 1) + struct.pack(">i", 5) + struct.pack(">h", 3) + b"abc"), "a truncated Metadata request")
closes(frame(b"\x00\x03"), "a request shorter than its header")

# Another connection, and the server, are unaffected; and the version traps hold.
with socket.create_connection(address, timeout=10) as s:
    correlation, error, apis = api_versions(s, 2, 7)
    check((correlation, error) == (7, 0), f"ApiVersions v2 answered {(correlation, error)}")
    # librdkafka 2.0.2 checks for these exact versions.
    for key, version in [(18, 0), (2, 1), (0, 3), (0, 7), (1, 4), (1, 10), (22, 0)]:
        check(key in apis and apis[key][0] <= version <= apis[key][1], f"API {key} v{version} not advertised: {apis.get(key)}")
    correlation, error, apis3 = api_versions(s, 3, 8)
    check((correlation, error) == (8, 35) and apis3 == apis, f"ApiVersions v3 answered {(correlation, error)}")
print("ok: ApiVersions v2 answers, v3 gets UNSUPPORTED_VERSION (35) with the same API list; other connections unaffected")

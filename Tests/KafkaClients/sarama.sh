#!/usr/bin/env bash
# sarama, the Go client (Debian's golang-github-shopify-sarama-dev, 1.22), against a running
# Brook: an acks=all producer with each compression codec and an idempotent one, a reader of
# every partition, a consumer group that commits and resumes from its commits, and ClusterAdmin.
#
#   bash Tests/KafkaClients/sarama.sh BROOK KAFKA_ADDRESS LINE_ADDRESS
# Needs: golang-go and golang-github-shopify-sarama-dev (Debian).
set -euo pipefail
export LC_ALL=C  # byte order for every sort below
here="$(cd "$(dirname "$0")" && pwd)"
brook="$1"
kafka="$2"
line="$3"
work="$(mktemp -d /tmp/brook-sarama.XXXXXX)"
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
expect_equal() {  # name, expected, actual
    [[ "$2" == "$3" ]] || fail "$1: expected
$2
--- got
$3"
    echo "ok: $1"
}

command -v go >/dev/null || fail "no Go toolchain: apt-get install golang-go golang-github-shopify-sarama-dev"
[[ -d /usr/share/gocode/src/github.com/Shopify/sarama ]] || fail "no sarama sources: apt-get install golang-github-shopify-sarama-dev"
# Debian's Go libraries are sources in a GOPATH, built without modules.
(cd "$here/sarama" && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="${GOCACHE:-$work/cache}" \
    go build -o "$work/sarama-check" . 2>"$work/build.log") || { cat "$work/build.log" >&2; fail "building the sarama check"; }
check="$work/sarama-check"

# Produce: acks=all, keys and a header, with each codec sarama has, then an idempotent producer.
"$brook" topics create sarama-topic --partitions 3 --server "$line" >/dev/null
: >"$work/produced"
for codec in none gzip snappy lz4 zstd; do
    "$check" produce "$kafka" sarama-topic 20 "$codec" plain >>"$work/produced"
done
"$check" produce "$kafka" sarama-topic 20 lz4 idempotent >>"$work/produced"
echo "ok: sarama produced $(wc -l <"$work/produced") records with acks=all (none, gzip, snappy, lz4, zstd, idempotent)"

# Read every partition back: each record at the partition and offset its acknowledgement gave,
# with its key and header.
expected="$(awk '{ split($3, part, "-"); printf "%s %s k%d %s producer=%s\n", $1, $2, part[2] % 5, $3, part[1] }' "$work/produced" \
    | sort -n -k1,1 -k2,2)"
got="$("$check" read "$kafka" sarama-topic | sort -n -k1,1 -k2,2)"
expect_equal "sarama reads back every record at its acknowledged partition and offset, with key and header" "$expected" "$got"
expect_equal "sarama's records in SQL" "$(wc -l <"$work/produced")" \
    "$("$brook" sql --server "$line" --format csv "SELECT count(*) AS n FROM \"sarama-topic\"" | tail -1)"

# A consumer group: reads everything, commits on close (sarama 1.22 commits with OffsetCommit v1).
got="$("$check" group "$kafka" sarama-topic sarama-group "$(wc -l <"$work/produced")" | sort)"
expect_equal "a sarama consumer group reads every record" "$(awk '{ print $3 }' "$work/produced" | sort)" "$got"
lags="$("$brook" groups describe sarama-group --server "$line" | awk '$1 == "sarama-topic" { print $2, $5 }')"
expect_equal "the sarama group's commits: LAG 0 on every partition" "$(printf '0 0\n1 0\n2 0')" "$lags"

# Ten more records; the group resumes from its commits and reads exactly those.
"$check" produce "$kafka" sarama-topic 10 gzip plain >"$work/more"
got="$("$check" group "$kafka" sarama-topic sarama-group 10 | sort)"
expect_equal "the sarama group resumes from its committed offsets" "$(awk '{ print $3 }' "$work/more" | sort)" "$got"

# ClusterAdmin: create with a config, describe, add partitions, alter and describe the config,
# delete records, list and describe the group above, delete the topic.
got="$("$check" admin "$kafka" sarama-admin sarama-group)"
expect_equal "sarama's ClusterAdmin" "$(printf '%s\n' \
    "DescribeTopics sarama-admin: 2 partitions" \
    "DescribeConfig sarama-admin: retention.ms=7200000" \
    "DeleteRecords sarama-admin-0 below 3: log start 3" \
    "ListConsumerGroups: sarama-group=consumer" \
    "DescribeConsumerGroups sarama-group: Empty, consumer, 0 members" \
    "DeleteTopic sarama-admin")" "$got"
"$brook" topics describe sarama-admin --server "$line" >/dev/null 2>&1 && fail "sarama-admin still exists after DeleteTopic"
echo "ok: sarama-admin is gone"

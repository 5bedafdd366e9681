#!/usr/bin/env bash
# Prometheus metrics (metrics_listen, rasd.conf(5)): the real rasd serves
# GET /metrics on a free loopback port; ras-vmmsim makes AR and AO
# forwards, repeats and an out-of-range forward (an error); the page's
# figures are checked one by one, `promtool check metrics` passes on it, a
# stalled scraper does not hold up a forward, other paths and methods get
# 404 and 405, a port in use stops rasd with exit 1; then a real Prometheus
# server (Debian's prometheus package) scrapes rasd every second and a
# PromQL query over its HTTP API returns the number of forwards made.
. "$(dirname "$0")/lib.sh"

# --- tools ----------------------------------------------------------------
missing=
for t in curl promtool prometheus jq; do
	command -v "$t" >/dev/null || missing="$missing $t"
done
if [ -n "$missing" ]; then
	why="missing:$missing (Debian packages prometheus, curl, jq; tools/deps.sh installs them)"
	if [ "${CI:-}" = true ]; then notok "$why"; else skip "$why"; fi
	exit 0
fi

# A loopback port nothing listens on (a connect is refused).
free_port() {
	local p i
	for i in $(seq 1 100); do
		p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

# metric NAME{LABELS}: the value of one series on the last page ("" none).
metric() {
	S=$1 awk '$1 == ENVIRON["S"] { print $2 }' "$T/page"
}
scrape() { curl -sS --max-time 5 -o "$T/page" "http://127.0.0.1:$MPORT/metrics"; }
http_code() {
	curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$@"
}

# --- start rasd with metrics on ---------------------------------------------
for try in 1 2 3; do
	MPORT=$(free_port) || { notok "no free loopback port"; exit 1; }
	echo "metrics_listen = 127.0.0.1:$MPORT" >"$T/rasd.conf"
	start_rasd -c "$T/rasd.conf" && break
	RASD_PID=
done
check "rasd starts with metrics_listen = 127.0.0.1:$MPORT" kill -0 "${RASD_PID:-0}"
check "it logs where it serves metrics" \
	grep -q "metrics: serving http://127.0.0.1:$MPORT/metrics" "$RASD_LOG"
expect_eq "rasd -n prints metrics_listen" \
	"$("$RASD_BIN" -n -c "$T/rasd.conf" | grep '^metrics_listen')" \
	"metrics_listen = 127.0.0.1:$MPORT"

check "GET /metrics before any forward" scrape
fsyncs0=$(metric rasd_store_fsyncs_total)
expect_eq "no forwards yet: the family is there, no series" \
	"$(grep -c '^rasd_forwards_total{' "$T/page")" 0
check "... and its TYPE says counter" grep -qx '# TYPE rasd_forwards_total counter' "$T/page"

# --- forwards ----------------------------------------------------------------
# vm-a (arm64, SEA + GPIO): AR new, AO new (2 MiB), AR repeat, and an AR
# outside guest RAM (ERR_OUT_OF_RANGE). vm-b (x86, MCE): AR, AO, AO repeat.
# 'v"m\c' (SEA only): AO recorded and ignored -- a name to escape.
vmmsim --name vm-a --arch arm64 --hest "$DATA/qemu-virt-10.2-sea-gpio.hest" \
	--ram 16M --poison AR:0x40001000 --poison AO:0x40200000:21 \
	--poison AR:0x40001000 --poison AR:0x80000000 >"$T/a.out" 2>&1
expect_eq "vm-a: three decisions from rasd" "$(grep -c '(rasd)' "$T/a.out")" 3
check "vm-a: the third is a repeat" grep -q 'inject SEA .*(rasd) repeat' "$T/a.out"
vmmsim --name vm-b --arch x86_64 --declare 0:MCE --poison AR:0x100000 \
	--poison AO:0x200000 --poison AO:0x200000 >"$T/b.out" 2>&1
expect_eq "vm-b: three decisions from rasd" "$(grep -c '(rasd)' "$T/b.out")" 3
vmmsim --name 'v"m\c' --arch arm64 --hest "$DATA/qemu-virt-10.0-sea.hest" \
	--poison AO:0x40005000 >"$T/c.out" 2>&1
expect_eq "vm 'v\"m\\c': one decision from rasd" "$(grep -c '(rasd)' "$T/c.out")" 1
FORWARDS=7

# One VMM stays connected.
vmmsim --name vm-d --arch arm64 --hest "$DATA/qemu-virt-10.0-sea.hest" \
	--hold >"$T/d.out" 2>&1 &
DPID=$!
d_running() { [ "$(rasctl --json show vm-d 2>/dev/null | jq -r .state)" = running ]; }
check "vm-d's VMM registers and stays" wait_for d_running

check "GET /metrics after the forwards" scrape
A=$(rasctl --json show vm-a | jq -r .uuid)
C=$(rasctl --json show 'v"m\c' | jq -r .uuid)
expect_eq "forwards AR inject SEA" "$(metric 'rasd_forwards_total{kind="AR",action="inject",notify="SEA"}')" 2
expect_eq "forwards AO inject GPIO" "$(metric 'rasd_forwards_total{kind="AO",action="inject",notify="GPIO"}')" 1
expect_eq "forwards AR inject MCE" "$(metric 'rasd_forwards_total{kind="AR",action="inject",notify="MCE"}')" 1
expect_eq "forwards AO inject MCE" "$(metric 'rasd_forwards_total{kind="AO",action="inject",notify="MCE"}')" 2
expect_eq "forwards AO ignore (no notification)" "$(metric 'rasd_forwards_total{kind="AO",action="ignore",notify="none"}')" 1
expect_eq "forwards in all" "$(awk '/^rasd_forwards_total\{/ { n += $2 } END { print n }' "$T/page")" "$FORWARDS"
expect_eq "AR repeats" "$(metric 'rasd_forward_repeats_total{kind="AR"}')" 1
expect_eq "AO repeats" "$(metric 'rasd_forward_repeats_total{kind="AO"}')" 1
expect_eq "errors: ERR_OUT_OF_RANGE" "$(metric 'rasd_errors_total{code="ERR_OUT_OF_RANGE"}')" 1
expect_eq "errors: ERR_STORE (each code has a series)" "$(metric 'rasd_errors_total{code="ERR_STORE"}')" 0
expect_eq "records committed (batch sizes add up)" "$(metric rasd_store_commit_records_sum)" 5
commits=$(metric rasd_store_commit_duration_seconds_count)
check "commits: 1..5 batches ($commits)" test "$commits" -ge 1 -a "$commits" -le 5
expect_eq "every commit is in the +Inf bucket" \
	"$(metric 'rasd_store_commit_duration_seconds_bucket{le="+Inf"}')" "$commits"
expect_eq "as many batch sizes as commits" "$(metric rasd_store_commit_records_count)" "$commits"
check "commit latency sum > 0" awk -v v="$(metric rasd_store_commit_duration_seconds_sum)" 'BEGIN { exit !(v > 0) }'
expect_eq "no failed commits" "$(metric rasd_store_commit_failures_total)" 0
fsyncs1=$(metric rasd_store_fsyncs_total)
check "fsyncs grew by at least one per commit ($fsyncs0 -> $fsyncs1)" \
	test "$fsyncs1" -ge $(( fsyncs0 + commits ))
expect_eq "VMMs connected" "$(metric rasd_vmms_connected)" 1
check "clients: at least vm-d's connection" test "$(metric rasd_clients)" -ge 1
expect_eq "VMs running" "$(metric 'rasd_vms{state="running"}')" 1
expect_eq "VMs stopped" "$(metric 'rasd_vms{state="stopped"}')" 3
expect_eq "VMs migrated-away" "$(metric 'rasd_vms{state="migrated-away"}')" 0
expect_eq "vm-a: poisoned ranges" "$(metric "rasd_vm_poisoned_ranges{vm=\"vm-a\",uuid=\"$A\"}")" 2
expect_eq "vm-a: poisoned bytes (4 KiB + 2 MiB)" "$(metric "rasd_vm_poisoned_bytes{vm=\"vm-a\",uuid=\"$A\"}")" 2101248
expect_eq "'v\"m\\c': its name escaped in the label" \
	"$(metric "rasd_vm_poisoned_bytes{vm=\"v\\\"m\\\\c\",uuid=\"$C\"}")" 4096
expect_eq "vm-d: no poison" "$(grep -c '^rasd_vm_poisoned_ranges{vm="vm-d",uuid="[0-9a-f-]*"} 0$' "$T/page")" 1
expect_eq "final syncs: none" "$(awk '/^rasd_final_syncs_total\{/ { n += $2 } END { print n }' "$T/page")" 0
expect_eq "libvirt not watched: no rasd_libvirt_connected" "$(grep -c '^rasd_libvirt_connected' "$T/page")" 0
expect_eq "build info" "$(metric "rasd_build_info{version=\"$("$RASD_BIN" -V | cut -d' ' -f2)\"}")" 1
# Host health (daemon/health.c): every new record is an uncorrected error of
# this host; the default thresholds are health_ue_degraded 1 / 24h and
# health_ue_evacuate 4 / 24h.
expect_eq "host uncorrected errors = the ranges recorded" \
	"$(metric rasd_host_uncorrected_errors_total)" \
	"$(awk '/^rasd_vm_poisoned_ranges\{/ { n += $2 } END { print n }' "$T/page")"
expect_eq "one health state is set" \
	"$(awk '/^rasd_host_health_state\{/ { n += $2 } END { print n }' "$T/page")" 1
ue=$(metric rasd_host_uncorrected_errors_total)
want=healthy; [ "$ue" -ge 1 ] && want=degraded; [ "$ue" -ge 4 ] && want=evacuate
expect_eq "$ue uncorrected errors: the host is $want" "$(metric "rasd_host_health_state{state=\"$want\"}")" 1
expect_eq "not overridden" "$(metric rasd_host_health_overridden)" 0

# --- the format ----------------------------------------------------------------
if promtool check metrics <"$T/page" >"$T/promtool.out" 2>&1; then
	ok "promtool check metrics passes"
else
	notok "promtool check metrics fails:"; sed 's/^/#   /' "$T/promtool.out"
fi
check "promtool has nothing to say" test ! -s "$T/promtool.out"
ctype=$(curl -s --max-time 5 -o /dev/null -w '%{content_type}' "http://127.0.0.1:$MPORT/metrics")
expect_eq "Content-Type" "$ctype" "text/plain; version=0.0.4; charset=utf-8"
expect_eq "GET /metrics?x=1: 200 (a query is ignored)" "$(http_code "http://127.0.0.1:$MPORT/metrics?x=1")" 200
expect_eq "GET /: 404" "$(http_code "http://127.0.0.1:$MPORT/")" 404
expect_eq "GET /metrics/x: 404" "$(http_code "http://127.0.0.1:$MPORT/metrics/x")" 404
expect_eq "POST /metrics: 405" "$(http_code -X POST -d x "http://127.0.0.1:$MPORT/metrics")" 405
expect_eq "DELETE /metrics: 405" "$(http_code -X DELETE "http://127.0.0.1:$MPORT/metrics")" 405
allow=$(curl -s --max-time 5 -D - -o /dev/null -X PUT "http://127.0.0.1:$MPORT/metrics" | tr -d '\r' | sed -n 's/^Allow: //p')
expect_eq "405 says Allow: GET" "$allow" GET

# --- a stalled scraper does not hold up a forward ----------------------------
exec 5<>"/dev/tcp/127.0.0.1/$MPORT"
printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n' >&5	# headers never finished
exec 6<>"/dev/tcp/127.0.0.1/$MPORT"			# connected, silent
t0=$(date +%s%N)
vmmsim --name vm-e --arch arm64 --hest "$DATA/qemu-virt-10.0-sea.hest" \
	--poison AR:0x40009000 >"$T/e.out" 2>&1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "with two stalled scrapers open, a forward is answered by rasd (${ms} ms)" \
	grep -q 'inject SEA .*(rasd)$' "$T/e.out"
exec 5>&- 6>&-
FORWARDS=$((FORWARDS + 1))

# --- a port in use is a start-up error ----------------------------------------
mkdir -p "$T/b"
"$RASD_BIN" --foreground --no-libvirt --socket "$T/b/rasd.sock" \
	--state-dir "$T/b/state" -c "$T/rasd.conf" >"$T/b/log" 2>&1
rc=$?
expect_eq "a second rasd on the same metrics port: exit 1" "$rc" 1
check "... saying why" grep -q "metrics: cannot listen on 127.0.0.1:$MPORT (metrics_listen): Address already in use" "$T/b/log"
check "... and it leaves no socket behind" test ! -e "$T/b/rasd.sock"
echo "metrics_listen = 127.0.0.1:http" >"$T/bad.conf"
"$RASD_BIN" --foreground --no-libvirt --socket "$T/b/rasd.sock" \
	--state-dir "$T/b/state" -c "$T/bad.conf" >"$T/b/log" 2>&1
expect_eq "a bad metrics_listen: exit 2" "$?" 2
check "... naming the file and line" grep -q "^rasd: $T/bad.conf:1: bad metrics_listen" "$T/b/log"

# --- a real Prometheus scrapes rasd ---------------------------------------------
PPORT=$(free_port) || { notok "no free port for Prometheus"; exit 1; }
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: rasd
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom-data" \
	--web.listen-address="127.0.0.1:$PPORT" --log.level=warn \
	>"$T/prometheus.log" 2>&1 &
PROM_PID=$!
prom_ready() { curl -sf --max-time 2 "http://127.0.0.1:$PPORT/-/ready" >/dev/null; }
check "Prometheus starts (127.0.0.1:$PPORT)" within 60 prom_ready
# query EXPR: the value of the first result ("" when none).
query() {
	curl -s --max-time 5 -G "http://127.0.0.1:$PPORT/api/v1/query" \
	    --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // ""'
}
query_is() { [ "$(query "$1")" = "$2" ]; }
check "Prometheus scrapes rasd: up{job=\"rasd\"} == 1" within 30 query_is 'up{job="rasd"}' 1
check "PromQL sum(rasd_forwards_total) == $FORWARDS, the forwards made" \
	within 30 query_is 'sum(rasd_forwards_total)' "$FORWARDS"
expect_eq "PromQL sum(rasd_forwards_total{kind=\"AR\"})" "$(query 'sum(rasd_forwards_total{kind="AR"})')" 4
expect_eq "PromQL sum(rasd_forward_repeats_total)" "$(query 'sum(rasd_forward_repeats_total)')" 2
expect_eq "PromQL rasd_build_info" "$(query 'rasd_build_info')" 1
expect_eq "Prometheus saw no scrape errors" \
	"$(query 'scrape_samples_post_metric_relabeling{job="rasd"} > 0 and up{job="rasd"} == 1' | grep -c .)" 1
kill -TERM "$PROM_PID"
prom_gone() { ! kill -0 "$PROM_PID" 2>/dev/null; }
check "Prometheus stops on SIGTERM" within 30 prom_gone
wait "$PROM_PID" 2>/dev/null
if grep -qiE 'level=(error|fatal)' "$T/prometheus.log"; then
	notok "Prometheus logged errors:"; grep -iE 'level=(error|fatal)' "$T/prometheus.log" | sed 's/^/#   /' | head
fi

kill "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
stop_rasd
check "nothing listens on the metrics port after rasd stopped" \
	bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$MPORT) 2>/dev/null"

# --- after a restart; libvirt's connection state ------------------------------
# libvirt's built-in test driver needs no daemon; a socket that does not
# exist is a libvirt rasd cannot reach.
RASD_LIBVIRT=test:///default start_rasd -c "$T/rasd.conf" ||
	notok "rasd restarts watching test:///default"
check "GET /metrics after a restart" scrape
expect_eq "counters start again at zero" "$(grep -c '^rasd_forwards_total{' "$T/page")" 0
expect_eq "VMs come back from the store: 5 stopped or disconnected" \
	"$(( $(metric 'rasd_vms{state="stopped"}') + $(metric 'rasd_vms{state="disconnected"}') ))" 5
expect_eq "vm-a's poisoned bytes come back" "$(metric "rasd_vm_poisoned_bytes{vm=\"vm-a\",uuid=\"$A\"}")" 2101248
libvirt_is() { scrape && [ "$(metric rasd_libvirt_connected)" = "$1" ]; }
check "libvirt test:///default: rasd_libvirt_connected 1" within 10 libvirt_is 1
stop_rasd
RASD_LIBVIRT='qemu+unix:///system?socket=/nonexistent/libvirt-sock' \
	start_rasd -c "$T/rasd.conf" || notok "rasd restarts with an unreachable libvirt"
check "libvirt unreachable: rasd_libvirt_connected 0" within 10 libvirt_is 0
stop_rasd

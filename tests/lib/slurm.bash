# A real single-node Slurm for ferry's tests: munged, slurmctld and slurmd
# on loopback (shared/reference/infra/start-slurm.sh, tested on Debian 12,
# with its traps avoided: no `sbatch --wait`, no sacct, an explicit
# environment). Source it from bash.
#
#   slurm_start   as root: install what is missing, write /etc/slurm/slurm.conf,
#                 start the three daemons (each once: idempotent), wait until
#                 the node is idle. State, logs, pids in $FERRY_SLURM_DIR.
#   slurm_stop    as root: stop them by pid file (never by name)
#   slurm_up      anyone: does the cluster answer?
#
# Knobs: FERRY_SLURM_DIR (default /tmp/ferry-slurm), FERRY_SLURM_CPUS (CPUs
# the node advertises, default 8: more array tasks at once on a small
# machine), FERRY_SLURM_MAX_ARRAY (MaxArraySize, default 16, so that the
# tests see a run split into several arrays).

FERRY_SLURM_DIR=${FERRY_SLURM_DIR:-/tmp/ferry-slurm}
FERRY_SLURM_CONF=/etc/slurm/slurm.conf

slurm_up() {
	command -v sinfo >/dev/null 2>&1 || return 1
	local st
	st=$(timeout 10 sinfo -h -o %T 2>/dev/null | head -n1)
	case $st in idle* | mixed* | allocated* | completing*) return 0 ;; esac
	return 1
}

_slurm_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

slurm_start() {
	[ "$(id -u)" -eq 0 ] || { echo "slurm_start: needs root" >&2; return 1; }
	local dir=$FERRY_SLURM_DIR cpus=${FERRY_SLURM_CPUS:-8} maxarr=${FERRY_SLURM_MAX_ARRAY:-16}
	local b need=0
	for b in slurmctld slurmd munged sinfo; do
		command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || need=1
	done
	if [ $need = 1 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
			--no-install-recommends slurmctld slurmd slurm-client munge >/dev/null || return 1
	fi
	if [ ! -s /etc/munge/munge.key ]; then
		mungekey --create --keyfile=/etc/munge/munge.key || return 1
		chown munge:munge /etc/munge/munge.key
		chmod 0400 /etc/munge/munge.key
	fi
	install -d -o munge -g munge -m 0755 /run/munge
	install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
	if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
		rm -f /run/munge/munge.socket.2 /run/munge/munged.pid
		_slurm_daemon runuser -u munge -- /usr/sbin/munged || return 1
		local _
		for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
	fi
	mkdir -p "$dir/ctld" "$dir/spool" /etc/slurm
	chmod 0755 "$dir"
	local line node mem
	line=$(/usr/sbin/slurmd -C | head -n1)
	node=$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$line")
	mem=$(grep -o 'RealMemory=[0-9]*' <<<"$line")
	cat >"$FERRY_SLURM_CONF.tmp" <<EOF
ClusterName=ferrytest
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=3600
MaxJobCount=100000
MaxArraySize=$maxarr
KillWait=2
InactiveLimit=0
SlurmdTimeout=60
SlurmdParameters=config_overrides
NodeName=$node CPUs=$cpus $mem NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
	if ! cmp -s "$FERRY_SLURM_CONF.tmp" "$FERRY_SLURM_CONF" &&
		{ _slurm_alive "$dir/slurmctld.pid" || _slurm_alive "$dir/slurmd.pid"; }; then
		slurm_stop_daemons
	fi
	mv "$FERRY_SLURM_CONF.tmp" "$FERRY_SLURM_CONF"
	chmod 0644 "$FERRY_SLURM_CONF"
	_slurm_alive "$dir/slurmctld.pid" || _slurm_daemon /usr/sbin/slurmctld -f "$FERRY_SLURM_CONF" || return 1
	_slurm_alive "$dir/slurmd.pid" || _slurm_daemon /usr/sbin/slurmd -f "$FERRY_SLURM_CONF" || return 1
	local i st
	for i in $(seq 300); do
		st=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
		case $st in
		idle* | mixed* | allocated*) return 0 ;;
		down* | drain*) scontrol update NodeName="$node" State=RESUME 2>/dev/null || true ;;
		esac
		sleep 0.2
	done
	echo "slurm did not come up; logs in $dir" >&2
	tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
	return 1
}

_slurm_stop_pid() {
	local f=$1 p _
	[ -s "$f" ] || return 0
	p=$(cat "$f")
	if kill -0 "$p" 2>/dev/null; then
		kill -TERM "$p"
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$p" 2>/dev/null && kill -KILL "$p"
	fi
	rm -f "$f"
}

slurm_stop_daemons() {
	_slurm_stop_pid "$FERRY_SLURM_DIR/slurmd.pid"
	_slurm_stop_pid "$FERRY_SLURM_DIR/slurmctld.pid"
}

slurm_stop() {
	slurm_stop_daemons
	_slurm_stop_pid /run/munge/munged.pid
}

# Start a daemon with no descriptor of ours but 0-2 (on /dev/null): one
# that kept a pipe of bats (its fd 3, the TAP stream) would keep the bats
# run waiting for it long after the tests end.
_slurm_daemon() {
	(
		local fd
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
		done
		exec "$@"
	) </dev/null >/dev/null 2>&1
}

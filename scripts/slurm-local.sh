#!/usr/bin/env bash
# A one-node Slurm on localhost, for CI and for trying `insight sweep launcher=slurm` on a laptop or a VM.
#
#   sudo bash scripts/slurm-local.sh install   # Debian/Ubuntu packages: slurmctld slurmd slurm-client munge slurmdbd mariadb
#   sudo bash scripts/slurm-local.sh start     # install if needed, write the configs, start the daemons (idempotent)
#   sudo bash scripts/slurm-local.sh start --hold-queue  # the same, and hold every job already queued (CI)
#   bash scripts/slurm-local.sh status         # which daemons run, and sinfo
#   sudo bash scripts/slurm-local.sh stop      # stop the daemons this script started, by their PIDs
#
# Runs as root without systemd (containers, CI). Accounting (slurmdbd + a local MariaDB) is part of it because
# submitit reads job states from `sacct`. The node is called `localhost` (slurmd -N localhost, NodeAddr=127.0.0.1),
# so the machine's hostname does not matter. Configs go to /etc/slurm (only if absent or written by this script),
# PID files to /run/insight-slurm, logs to /var/log/insight-slurm.
#
# Slurm keeps its queue across restarts (StateSaveLocation). On a developer's machine that queue may hold a campaign,
# and CI runs on that same machine after the session: `--hold-queue` holds every job found queued before the node
# comes up (nothing can start before that), so the tests' own jobs run at once; `scontrol release JOB` lets them go.
set -euo pipefail

RUN_DIR=/run/insight-slurm
LOG_DIR=/var/log/insight-slurm
STATE_DIR=/var/lib/insight-slurm
CONF_DIR=/etc/slurm
MARKER="# written by insight scripts/slurm-local.sh"
CLUSTER=insight
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
DB_PASS=insight-local-slurm

log() { printf 'slurm-local: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() { [[ $(id -u) -eq 0 ]] || die "run as root (sudo bash $0 $1): it installs packages and starts daemons"; }

alive() {  # alive PIDFILE: the process named in the PID file runs
  [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what did not come up within ${limit}s (logs: $LOG_DIR)"
    sleep 0.2
  done
}

# ------------------------------------------------------------------------------------------------ install
cmd_install() {
  need_root install
  local missing=()
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    log "packages already installed"
    return
  fi
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} with your package manager"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d in containers stops postinst scripts from starting daemons; we start them ourselves below.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ------------------------------------------------------------------------------------------------ configs
write_conf() {  # write_conf PATH MODE: stdin → PATH, unless PATH exists and was not written by this script
  local path=$1 mode=$2 text
  text=$(cat)
  if [[ -e $path ]] && ! grep -qF "$MARKER" "$path"; then
    die "$path exists and was not written by this script; move it away to use the local Slurm"
  fi
  printf '%s\n%s\n' "$MARKER" "$text" >"$path.tmp"
  chmod "$mode" "$path.tmp"
  mv "$path.tmp" "$path"
}

write_configs() {
  local cpus mem
  cpus=$(nproc)
  # RealMemory must not exceed what slurmd detects, or the node is drained; keep a margin of 5%.
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  mem=$((mem * 95 / 100))
  mkdir -p "$CONF_DIR" "$RUN_DIR" "$LOG_DIR" "$STATE_DIR/slurmctld" "$STATE_DIR/slurmd"
  write_conf "$CONF_DIR/slurm.conf" 644 <<EOF
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# short credential lifetime: a requeued job may start again after 5 s instead of 120 s
AuthInfo=cred_expire=5
# no cgroups in containers
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
# schedule every 2 s, so submitted and requeued jobs start within seconds
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
JobRequeue=1
KillWait=30
MinJobAge=600
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  write_conf "$CONF_DIR/slurmdbd.conf" 600 <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$RUN_DIR/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
}

# ------------------------------------------------------------------------------------------------ daemons
start_munge() {
  if alive "$RUN_DIR/munged.pid"; then return; fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  [[ -s /etc/munge/munge.key ]] || { mungekey --create --force >/dev/null 2>&1 || create-munge-key -f; }
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  runuser -u munge -- munged --pid-file=/run/munge/munged.pid --log-file="$LOG_DIR/munged.log" 2>/dev/null ||
    runuser -u munge -- munged --pid-file=/run/munge/munged.pid
  wait_for 10 munged test -s /run/munge/munged.pid
  cp /run/munge/munged.pid "$RUN_DIR/munged.pid"
  wait_for 10 munged bash -c 'munge -n | unmunge'
}

start_mariadb() {
  if alive "$RUN_DIR/mariadb.pid"; then return; fi
  mkdir -p /run/mysqld
  touch "$LOG_DIR/mariadb.log"
  chown mysql:mysql /run/mysqld "$LOG_DIR/mariadb.log"
  [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  # no TCP port: slurmdbd talks to it over the socket, so nothing else on the machine can clash with it
  setsid mariadbd --user=mysql --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock --skip-networking \
    --pid-file=/run/mysqld/mariadb.pid --log-error="$LOG_DIR/mariadb.log" </dev/null >/dev/null 2>&1 &
  wait_for 30 mariadb mariadb -e "SELECT 1"
  cp /run/mysqld/mariadb.pid "$RUN_DIR/mariadb.pid"
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}

start_slurmdbd() {
  if alive "$RUN_DIR/slurmdbd.pid"; then return; fi
  slurmdbd
  wait_for 30 slurmdbd sacctmgr -n list cluster
  if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
  fi
}

start_slurmctld() {
  if alive "$RUN_DIR/slurmctld.pid"; then return; fi
  slurmctld
  wait_for 30 slurmctld scontrol ping
}

hold_queue() {  # hold every pending job (array jobs whole); started jobs are left to requeue_orphans
  local job
  for job in $(squeue -h -t PENDING -o %A 2>/dev/null | sort -u); do
    if scontrol hold "$job" 2>/dev/null; then
      log "held job $job, queued before this start (scontrol release $job)"
    fi
  done
}

start_slurmd() {
  if alive "$RUN_DIR/slurmd.pid"; then return; fi
  local started
  started=$(date +%s)
  slurmd -N localhost
  wait_for 30 "slurmd (node localhost idle)" bash -c 'sinfo -h -N -n localhost -o %T | grep -Eq "^(idle|mixed|allocated)"'
  requeue_orphans "$started"
}

requeue_orphans() {  # requeue_orphans EPOCH: requeue jobs that started before EPOCH and have no process left
  # After a reboot (or a VM restored from a snapshot) slurmctld recovers its saved state and lists the jobs that were
  # running as RUNNING, but their processes are gone and slurmctld does not notice: they hold the node's CPUs and
  # every later job waits behind them for good. A job whose batch step (slurmstepd: [JOB.batch]) is not a process
  # here is requeued, so it runs again (an insight run resumes from its last checkpoint). Jobs started after slurmd
  # came up are left alone: their step may not have spawned yet.
  local before=$1 job start
  while read -r job start; do
    [[ -n $job ]] || continue
    (($(date -d "$start" +%s 2>/dev/null || echo "$before") < before)) || continue
    pgrep -f "^slurmstepd: \[$job\.batch\]" >/dev/null && continue
    if scontrol "${REQUEUE:-requeue}" "$job" >/dev/null 2>&1; then
      log "job $job was listed as running but none of its processes is left (restarted machine?): scontrol ${REQUEUE:-requeue} $job"
    else
      scancel "$job" 2>/dev/null || true
      log "job $job was listed as running but none of its processes is left and it cannot be requeued: cancelled it"
    fi
  done < <(squeue -h -t RUNNING,COMPLETING -o '%A %S' 2>/dev/null)
}

cmd_start() {
  need_root start
  local hold=false
  case "${1:-}" in
    "") ;;
    --hold-queue) hold=true ;;
    *) log "error: unknown option '$1' for start: the only one is --hold-queue"; exit 2 ;;
  esac
  cmd_install
  write_configs
  start_munge
  start_mariadb
  start_slurmdbd
  start_slurmctld
  if $hold; then
    hold_queue
    REQUEUE=requeuehold  # a job whose processes are gone comes back held too
  fi
  start_slurmd
  # a node left DOWN/DRAINED by an earlier unclean stop comes back
  scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
  log "running: $(sinfo -h -o '%P %D nodes %T %c CPUs %m MB')"
}

stop_pid() {  # stop_pid NAME PIDFILE: SIGTERM, wait up to 20 s, then SIGKILL
  local name=$1 pidfile=$2 pid
  alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name ($pid) did not stop; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  log "stopped $name ($pid)"
}

cmd_stop() {
  need_root stop
  stop_pid slurmd "$RUN_DIR/slurmd.pid"
  stop_pid slurmctld "$RUN_DIR/slurmctld.pid"
  stop_pid slurmdbd "$RUN_DIR/slurmdbd.pid"
  stop_pid mariadb "$RUN_DIR/mariadb.pid"
  stop_pid munged "$RUN_DIR/munged.pid"
}

cmd_status() {
  local name rc=0
  for name in munged mariadb slurmdbd slurmctld slurmd; do
    if alive "$RUN_DIR/$name.pid"; then
      printf '%-10s running (pid %s)\n' "$name" "$(cat "$RUN_DIR/$name.pid")"
    else
      printf '%-10s stopped\n' "$name"
      rc=1
    fi
  done
  if command -v sinfo >/dev/null && sinfo -h >/dev/null 2>&1; then sinfo; fi
  return $rc
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start "${2:-}" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) printf 'usage: %s install|start [--hold-queue]|stop|status\n' "$0" >&2; exit 2 ;;
esac

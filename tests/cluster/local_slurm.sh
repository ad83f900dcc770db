#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the cluster integration tests (tests/cluster/).
#
#   tests/cluster/local_slurm.sh start   # install (Debian: slurmd slurmctld munge), configure, start; prints SLURM_CONF
#   tests/cluster/local_slurm.sh status  # exit 0 when the node is up and idle
#   tests/cluster/local_slurm.sh stop    # stop the daemons (the state dir stays for inspection)
#
# Everything lives under $ARX_SLURM_DIR (default /tmp/arx-slurm): slurm.conf, spool and state dirs, logs.
# /etc/slurm/slurm.conf becomes a link to that slurm.conf, because job steps find their cluster there (the Snakemake
# job-step plugin drops SLURM_* variables, SLURM_CONF included, before its inner srun); an existing slurm.conf that
# this script did not write is never replaced. munge uses the system's key (/etc/munge/munge.key, created by
# Debian's munge package). One node (this host, all its CPUs), one
# partition, no accounting database: the Snakemake SLURM plugin then queries job states with squeue, which needs
# MinJobAge >= 120 s (set below), instead of sacct. Like the upstream plugin's own CI, the daemons run as root.
set -euo pipefail
DIR=${ARX_SLURM_DIR:-/tmp/arx-slurm}
CONF=$DIR/slurm.conf
SYSTEM_CONF=/etc/slurm/slurm.conf
MARK="# written by arx tests/cluster/local_slurm.sh"

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
      && command -v sbatch >/dev/null; then
    return
  fi
  command -v apt-get >/dev/null || { echo "local_slurm: no slurmctld/slurmd/munged and no apt-get to install them" >&2; exit 3; }
  [ "$(id -u)" = 0 ] || { echo "local_slurm: installing SLURM needs root (apt-get install slurmd slurmctld munge)" >&2; exit 3; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q slurmd slurmctld slurm-client munge >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q slurmd slurmctld slurm-client munge >/dev/null; }
}

configure() {
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
  mkdir -p "$DIR/spool/slurmd" "$DIR/spool/slurmctld" "$DIR/log"
  if [ -e "$SYSTEM_CONF" ] && ! grep -qF "$MARK" "$SYSTEM_CONF"; then
    echo "local_slurm: $SYSTEM_CONF exists and was not written by this script; not replacing a real cluster's config" >&2
    exit 3
  fi
  cat > "$CONF" <<CONFEOF
$MARK
ClusterName=arx-local
SlurmctldHost=$host
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$DIR/spool/slurmctld
SlurmdSpoolDir=$DIR/spool/slurmd
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONFEOF
  mkdir -p "$(dirname "$SYSTEM_CONF")"
  ln -sfn "$CONF" "$SYSTEM_CONF"
}

start_munge() {
  if pgrep -x munged >/dev/null; then return; fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged
}

up() {
  sinfo -h -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'
}

start() {
  install
  configure
  start_munge
  [ -f "$DIR/slurmctld.pid" ] && kill "$(cat "$DIR/slurmctld.pid")" 2>/dev/null || true
  [ -f "$DIR/slurmd.pid" ] && kill "$(cat "$DIR/slurmd.pid")" 2>/dev/null || true
  sleep 1
  slurmctld -f "$CONF" -i
  slurmd -f "$CONF"
  for _ in $(seq 60); do
    if up; then echo "local_slurm: node $(hostname -s) up ($(nproc) CPUs), config $SYSTEM_CONF -> $CONF"; return; fi
    sleep 1
  done
  echo "local_slurm: the node did not come up within 60 s; see $DIR/log/slurmctld.log and $DIR/log/slurmd.log" >&2
  exit 4
}

stop() {
  for d in slurmd slurmctld; do
    if [ -f "$DIR/$d.pid" ]; then kill "$(cat "$DIR/$d.pid")" 2>/dev/null || true; rm -f "$DIR/$d.pid"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) up ;;
  *) echo "usage: $0 start|status|stop" >&2; exit 2 ;;
esac

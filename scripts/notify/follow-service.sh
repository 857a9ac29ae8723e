#!/bin/sh
# A notify hook that makes a systemd service follow the VIP. Use it as the
# generic hook (keepalived's argument order, so it also works unchanged under
# keepalived):
#
#   notify = ["/usr/local/lib/failover/follow-service.sh", "nginx.service"]
#
# failoverd appends: INSTANCE|GROUP <name> <MASTER|BACKUP|FAULT|STOP> <priority>
# It runs after the VIP is configured and announced (MASTER) or removed
# (BACKUP, FAULT, STOP), one hook at a time, killed after hook_timeout.
# Install it root-owned and not writable by others (script security).
set -eu
unit=$1 type=$2 name=$3 state=$4
case "$state" in
  MASTER)              action=start ;;
  BACKUP|FAULT|STOP)   action=stop ;;
  *) echo "unknown state $state" >&2; exit 2 ;;
esac
echo "$type $name is $state: systemctl $action $unit"
exec systemctl "$action" "$unit"

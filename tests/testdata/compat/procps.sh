# procps: ps, pgrep, pkill, free, top, vmstat, uptime over live processes.
# Natively the host's other processes are visible too: every query is
# limited to this shell's children.
sleep 30 & s1=$!
sleep 31 & s2=$!
sleep 0.2
ps -o comm=,args= -p "$s1","$s2"
ps -o comm= --ppid $$ | grep -c '^sleep$'
ps -o stat= -p "$s1" | cut -c1
pgrep -P $$ -x sleep | wc -l; pgrep -P $$ -f 'sleep 31' | grep -qx "$s2" && echo "pgrep -f finds it"
pidof sleep | tr ' ' '\n' | grep -cx "$s1"
kill -STOP "$s1"; sleep 0.2; ps -o stat= -p "$s1" | cut -c1; kill -CONT "$s1"
pkill -P $$ -f '^sleep 30$'; wait "$s1"; echo "pkill: $?"
kill "$s2"; wait "$s2"; echo "kill: $?"
pgrep -P $$ -x sleep || echo "none left"
free | awk 'NR == 1 {print $1, $2, $3} NR > 1 {print $1}'
free -m | awk 'NR == 2 {print ($2 > 0)}'
top -b -n1 | grep -c '^ *PID USER'
vmstat 1 2 | wc -l; uptime | grep -c 'load average'
ps -o pid=,ppid= -p $$ | awk '{print ($1 > 0)}'
nproc | grep -qx "$(getconf _NPROCESSORS_ONLN)" && echo "nproc agrees"

# procps: ps, pgrep, pkill, free, top, vmstat, uptime over live processes.
sleep 30 & s1=$!
sleep 31 & s2=$!
sleep 0.2
ps -o comm=,args= -p "$s1","$s2"
ps -e -o comm= | grep -c '^sleep$'
ps -o stat= -p "$s1" | cut -c1
pgrep -x sleep | wc -l; pgrep -f 'sleep 31' | grep -qx "$s2" && echo "pgrep -f finds it"
pgrep -P $$ -x sleep | wc -l; pidof sleep | wc -w
kill -STOP "$s1"; sleep 0.2; ps -o stat= -p "$s1" | cut -c1; kill -CONT "$s1"
pkill -x -f 'sleep 30'; wait "$s1"; echo "pkill: $?"
kill "$s2"; wait "$s2"; echo "kill: $?"
pgrep -x sleep || echo "none left"
free | awk 'NR == 1 {print $1, $2, $3} NR > 1 {print $1}'
free -m | awk 'NR == 2 {print ($2 > 0)}'
top -b -n1 | grep -c '^ *PID USER'
vmstat 1 2 | wc -l; uptime | grep -c 'load average'
ps -o pid=,ppid= -p $$ | awk '{print ($1 > 0)}'
nproc | grep -qx "$(getconf _NPROCESSORS_ONLN)" && echo "nproc agrees"
watch -n 1 -t -g false 2>/dev/null </dev/null | head -0; echo watch ok

# What programs parse in /proc and /sys, printed so that a native run and
# a sandboxed run print the same: field names and counts, the host CPU's
# description (the sandbox has the same CPUs under runsc do), and the
# headers procps and util-linux print from them. Column widths are
# squeezed (they follow the values). Each section starts with "== name"
# so that a difference is easy to place.
set -u
squeeze() { tr -s ' ' ' '; }
# Fields Linux added after 6.1, the version the sandbox reports.
newer='Kthread|untag_mask|x86_Thread_features|x86_Thread_features_locked|KSM'

echo "== status keys"; cut -d: -f1 /proc/self/status | grep -vxE "$newer" | tr '\n' ' '; echo
echo "== stat and statm fields"; awk '{print NF}' /proc/self/stat /proc/self/statm
echo "== smaps keys"; grep -E '^[A-Z][A-Za-z_]+:' /proc/self/smaps | cut -d: -f1 | grep -vxE "$newer" | awk '!s[$0]++' | tr '\n' ' '; echo
echo "== smaps_rollup keys"; tail -n +2 /proc/self/smaps_rollup | cut -d: -f1 | grep -vxE "$newer" | tr '\n' ' '; echo
echo "== smaps VmFlags of the stack"; grep -A30 '\[stack\]' /proc/self/smaps | grep -m1 '^VmFlags' | grep -o ' gd ' 
echo "== meminfo keys"; cut -d: -f1 /proc/meminfo | grep -xE 'MemTotal|MemFree|MemAvailable|Buffers|Cached|SwapTotal|SwapFree|Shmem|SReclaimable|AnonPages|Hugepagesize' | tr '\n' ' '; echo
echo "== cpuinfo"; grep -E '^(processor|vendor_id|cpu family|model|model name|stepping|cache size|flags|bogomips|siblings|cpu cores|address sizes)\s' /proc/cpuinfo
echo "== cpu count"; nproc; getconf _NPROCESSORS_ONLN; /usr/bin/python3 -c 'import os, multiprocessing; print(os.cpu_count(), multiprocessing.cpu_count(), len(os.sched_getaffinity(0)))'
echo "== lscpu keys"; lscpu | cut -d: -f1 | tr '\n' '|'; echo
echo "== lscpu values"; lscpu | grep -E '^(CPU\(s\)|On-line CPU|Model name|Thread|Core|Socket|L1d|L1i|L2|L3|NUMA)' | squeeze
echo "== sysfs cpu"; cat /sys/devices/system/cpu/online /sys/devices/system/cpu/possible /sys/devices/system/cpu/present
ls -d /sys/devices/system/cpu/cpu[0-9]*
cat /sys/devices/system/cpu/cpu*/topology/core_id /sys/devices/system/cpu/cpu*/topology/physical_package_id
cat /sys/devices/system/cpu/cpu*/topology/thread_siblings_list /sys/devices/system/cpu/cpu*/topology/core_siblings_list
for i in /sys/devices/system/cpu/cpu0/cache/index*; do cat $i/level $i/type $i/size $i/shared_cpu_list $i/coherency_line_size $i/ways_of_associativity | tr '\n' ' '; echo; done
test -e /sys/devices/system/cpu/cpu0/cpufreq && echo cpufreq
cat /sys/devices/system/node/node0/cpulist
echo "== sysfs misc"; cat /sys/class/net/lo/mtu /sys/class/net/lo/address /sys/class/net/lo/ifindex /sys/class/net/lo/type /sys/class/net/lo/flags
ls /sys/kernel/mm/transparent_hugepage/enabled; test -d /sys/block && echo block
echo "== procps headers"; free | head -1 | squeeze; free | awk 'NR>1{print $1}'
ps aux | head -1 | squeeze; ps -o comm= -p $$
top -b -n1 | sed -n '2,5p;7p' | tr -s ' 0-9.' ' ' | sed 's/ $//'
vmstat | head -2 | squeeze
uptime | grep -c 'load average:'
echo "== util-linux headers"; df | head -1 | squeeze; findmnt | head -1 | squeeze
findmnt -n -o FSTYPE /proc; findmnt -n -o FSTYPE /sys
echo "== maps"
exe=$(readlink /proc/$$/exe)
want="$(printf '%02x:%02x %s' $(stat -L -c '%Hd %Ld %i' /proc/$$/exe))"
grep " $exe\$" /proc/$$/maps | awk '{print $4, $5}' | sort -u | grep -qx "$want" && echo "exe device and inode match stat"
for n in heap stack vdso vvar; do grep -q "\[$n\]\$" /proc/$$/maps && echo "[$n]"; done
grep -q ' 00:00 0 $' /proc/$$/maps && echo "unnamed mappings end with a space"
echo "== memory counters"
awk '/^(VmRSS|VmExe|VmLib|VmData|VmStk|VmPeak|VmHWM|RssAnon|RssFile):/ {print $1, ($2 > 0)}' /proc/$$/status
rss=$(awk '/^Rss:/ {s += $2} END {print s}' /proc/$$/smaps); roll=$(awk '/^Rss:/ {print $2}' /proc/$$/smaps_rollup)
[ "$rss" = "$roll" ] && echo "smaps and smaps_rollup agree"
echo "== oom"
cat /proc/$$/oom_score_adj /proc/$$/oom_adj
echo 500 > /proc/$$/oom_score_adj; cat /proc/$$/oom_score_adj /proc/$$/oom_adj
[ "$(cat /proc/$$/oom_score)" -gt 666 ] && echo "oom_score rises with oom_score_adj"
echo 0 > /proc/$$/oom_score_adj; echo 2000 > /proc/$$/oom_score_adj || echo "2000 refused"
echo "== task"
ls /proc/$$/task/$$/ | grep -xE 'stat|status|maps|smaps|comm|children|io|environ|cmdline|limits|fdinfo' | tr '\n' ' '; echo
cat /proc/$$/task/$$/comm; cat /proc/self/wchan; echo; cat /proc/$$/personality
echo "== sys"
cat /proc/sys/kernel/ostype /proc/sys/kernel/cap_last_cap /proc/sys/kernel/ngroups_max /proc/sys/kernel/overflowuid
cat /proc/sys/vm/overcommit_memory /proc/sys/vm/max_map_count /proc/sys/fs/nr_open /proc/sys/fs/pipe-max-size
cut -c-8 /proc/sys/kernel/random/boot_id | tr '0-9a-f' 'x'; wc -c < /proc/sys/kernel/random/uuid
grep -c '^btime ' /proc/stat; grep -c '^processes ' /proc/stat; awk '{print NF}' /proc/loadavg /proc/uptime

# util-linux: the tools that work on files, text and processes.
echo hello | rev; getopt -o ab: -l long -- -a -b x --long rest | tr -s ' '
flock lockfile -c 'echo locked'; flock -n lockfile true && echo "flock -n ok"
setsid -w /bin/sh -c 'echo in new session'
taskset -p $$ | sed 's/.*: //' | grep -q . && echo "taskset ok"; taskset -c 0 /bin/echo pinned
findmnt -n -o FSTYPE /proc; findmnt -n -o TARGET /sys
mcookie | wc -c; whereis -b ls | cut -d' ' -f1; namei -n /usr/bin | tail -2 | tr -s ' '
prlimit --pid $$ --nofile | tail -1 | awk '{print $1, $2}'

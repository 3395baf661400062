# strace: tracing a child's system calls (ptrace inside the sandbox).
strace -qq -e trace=write -o trace.txt /bin/echo traced; cat trace.txt
strace -f -qq -e trace=exit_group -e signal=none -o fork.txt /bin/sh -c '/bin/true; exit 3'; echo "rc $?"; sort -u fork.txt | sed 's/^[0-9]* *//'
strace -c -o /dev/null /bin/true && echo "strace -c ok"

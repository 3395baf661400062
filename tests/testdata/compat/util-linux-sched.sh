# util-linux's scheduling tools: I/O priority and scheduling policy.
ionice -p $$ | cut -d: -f1; chrt -p $$ | head -1 | sed 's/.*: //'
ionice -c 3 /bin/echo idle-io; chrt -o 0 /bin/echo other-policy

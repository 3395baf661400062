# util-linux's script(1): a program on a new pseudo-terminal (devpts).
script -q -c 'echo in a pty; tty | grep -c /dev/pts' /dev/null | tr -d '\r'
script -q -e -c 'exit 3' /dev/null; echo "script exit $?"

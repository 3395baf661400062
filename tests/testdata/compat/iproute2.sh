# iproute2: the loopback interface, seen through netlink.
ip -o link show lo | awk '{print $2, $3}'
ip -o addr show lo | awk '{print $3, $4}' | sort
ip route show table local dev lo 2>/dev/null | grep -c local
ss -xl 2>/dev/null | head -1 | awk '{print $1}'

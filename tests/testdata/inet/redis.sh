# redis-server over TCP (127.0.0.1 and ::1) with redis-cli and redis-benchmark.
redis-server --port 6390 --bind "127.0.0.1 ::1" --save "" --appendonly no --dir "$D" --logfile "$D/redis.log" & rpid=$!
i=0; until redis-cli -p 6390 ping 2>/dev/null | grep -q PONG; do
	i=$((i+1)); [ $i -gt 600 ] && { echo "redis did not start"; cat "$D/redis.log"; exit 1; }; sleep 0.1
done
redis-cli -p 6390 set k hello; redis-cli -p 6390 get k
redis-cli -h ::1 -p 6390 incr n; redis-cli -h ::1 -p 6390 incr n
redis-cli -p 6390 rpush l a b c; redis-cli -p 6390 lrange l 0 -1
head -c 100000 /dev/zero | tr '\0' 'r' | redis-cli -p 6390 -x set big; redis-cli -p 6390 strlen big
redis-benchmark -p 6390 -q -n 2000 -c 10 -t set,get > "$D/bench.out" 2>&1; echo "benchmark exit $?"
grep -c 'requests per second' "$D/bench.out"
redis-cli -p 6390 shutdown nosave; wait $rpid; echo "redis exit $?"

# redis-server and redis-cli over a unix socket.
redis-server --port 0 --unixsocket "$D/redis.sock" --unixsocketperm 700 --save '' --appendonly no \
	--dir "$D" --logfile "$D/redis.log" --daemonize no &
srv=$!
for i in $(seq 1 100); do
	[ -S "$D/redis.sock" ] && redis-cli -s "$D/redis.sock" ping >/dev/null 2>&1 && break
	kill -0 $srv 2>/dev/null || break # it gave up
	sleep 0.1
done
cli() { redis-cli -s "$D/redis.sock" "$@"; }
cli ping; cli set k v; cli get k; cli incrby n 41; cli incr n
cli rpush l a b c >/dev/null; cli lrange l 0 -1; cli hset h f1 1 f2 2 >/dev/null; cli hgetall h
cli sadd s x y z >/dev/null; cli scard s; cli expire k 100 >/dev/null; cli ttl k | awk '{print ($1 > 0)}'
for i in $(seq 1 200); do echo "SET key$i $i"; done | cli --pipe | tail -1 | sed 's/.*replies: //'
cli dbsize; cli eval "return redis.call('get', KEYS[1])" 1 key7
cli shutdown nosave 2>/dev/null; wait $srv; echo "server exit $?"

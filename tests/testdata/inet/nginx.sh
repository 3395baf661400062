# nginx (nginx-light) serving files from $D over 127.0.0.1 and ::1 to curl.
set -e
chmod 755 "$D"; mkdir -p "$D/www" "$D/ngx"
head -c 300000 /dev/zero | tr '\0' 'v' > "$D/www/file.txt"
echo hello-from-nginx > "$D/www/index.html"
cat > "$D/ngx/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $D/ngx/nginx.pid;
error_log $D/ngx/error.log;
events { worker_connections 64; }
http {
  access_log $D/ngx/access.log;
  client_body_temp_path $D/ngx/body;
  proxy_temp_path $D/ngx/proxy;
  fastcgi_temp_path $D/ngx/fastcgi;
  uwsgi_temp_path $D/ngx/uwsgi;
  scgi_temp_path $D/ngx/scgi;
  server {
    listen 127.0.0.1:8089;
    listen [::1]:8089;
    root $D/www;
  }
}
CONF
nginx -c "$D/ngx/nginx.conf" -p "$D/ngx" & npid=$!
i=0; until curl -s -o /dev/null http://127.0.0.1:8089/; do i=$((i+1)); [ $i -gt 300 ] && { echo "nginx did not start"; cat "$D/ngx/error.log"; exit 1; }; sleep 0.1; done
curl -s http://127.0.0.1:8089/
curl -s -g 'http://[::1]:8089/index.html'
curl -s http://127.0.0.1:8089/file.txt | md5sum
curl -s -o /dev/null -w '%{http_code}\n' http://127.0.0.1:8089/missing
curl -s http://127.0.0.1:8089/index.html http://127.0.0.1:8089/index.html
kill -QUIT $npid; wait $npid; echo "nginx exit $?"
wc -l < "$D/ngx/access.log"

# inotify-tools: file system events for a directory.
mkdir w
inotifywait -q -m -e create,modify,delete,moved_to --format '%e %f' w > events &
p=$!
sleep 0.5
touch w/a; echo x >> w/a; mv w/a w/b; rm w/b
sleep 0.5; kill $p; wait $p 2>/dev/null
cat events
inotifywait -q -t 1 -e create w; echo "timeout exit $?"

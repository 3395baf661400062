# tar, gzip and xz: archives built, listed, compressed and extracted.
mkdir -p src/sub; seq 1 5000 > src/numbers; printf 'hello\n' > src/sub/hello; ln -s numbers src/link
touch -h -d '2020-01-01 00:00:00 UTC' src/numbers src/sub/hello src/link src/sub src
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf a.tar src
sha256sum a.tar | cut -c1-16; tar -tvf a.tar --numeric-owner | awk '{print $1, $2, $3, $6}'
gzip -9 -n -k a.tar; sha256sum a.tar.gz | cut -c1-16; gzip -t a.tar.gz && echo gzip ok
xz -T1 -6 -k a.tar; xz -t a.tar.xz && echo xz ok; xz -l a.tar.xz | tail -1 | awk '{print $5, $6}' 
zcat a.tar.gz | cmp - a.tar && echo zcat same; xzcat a.tar.xz | cmp - a.tar && echo xzcat same
mkdir out; tar -xJf a.tar.xz -C out; diff -r src out/src && echo extracted same
tar -czf b.tgz -C src .; tar -tzf b.tgz | sort; tar -xzf b.tgz -O ./sub/hello
gzip -c src/numbers | gzip -dc | sha256sum | cut -c1-16
seq 1 200000 | xz -T2 -c | xz -dc | tail -1; seq 1 200000 | gzip -1 | gunzip | wc -l
tar -cf - src | tar -tf - | wc -l; bzip2 --help >/dev/null 2>&1 || true

# sed: scripts, addresses, hold space, in-place editing.
printf 'one\ntwo\nthree\nfour\nfive\n' > s
sed -n '2,4p' s; sed '3d' s; sed 's/o/0/g' s; sed -E 's/(t)(w|h)/\2\1/' s; sed '/two/,/four/s/^/> /' s
sed -n '$p' s; sed '1!G;h;$!d' s; sed 'N;s/\n/+/' s; sed = s | sed 'N;s/\n/ /'
cp s s2; sed -i 's/five/FIVE/' s2; tail -1 s2; sed -i.bak '1d' s2; head -1 s2; head -1 s2.bak
sed 'y/abcdefghijklmnopqrstuvwxyz/ABCDEFGHIJKLMNOPQRSTUVWXYZ/' s | head -2
printf 'a,b,c\n' | sed 's/,/\n/g'; echo "path/to/file" | sed 's|/|\\|g'
seq 1 20000 | sed -n '/^1.*9$/p' | wc -l; sed --version | head -1 | cut -d' ' -f1-3

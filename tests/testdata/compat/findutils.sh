# findutils: find and xargs over a tree.
mkdir -p t/a/b t/c "t/with space"
for f in t/1.txt t/a/2.txt t/a/b/3.log t/c/4.txt "t/with space/5.txt"; do echo "$f" > "$f"; done
head -c 5000 /dev/zero > t/big.bin; chmod 700 t/c/4.txt; ln -s 1.txt t/link
touch -d '2001-01-01 UTC' t/1.txt t/a/2.txt; touch -d '2002-01-01 UTC' t/c/4.txt
find t -name '*.txt' | sort
find t -type d | sort; find t -type l; find t -size +4k; find t -perm 700
find t -maxdepth 1 -type f | sort; find t -mindepth 3 | sort
find t -name '*.txt' -print0 | sort -z | xargs -0 cat | sort
find t -name '*.txt' -exec wc -c {} + | sort | tail -1 | tr -s ' '
find t -name '*.txt' -newer t/a/2.txt | sort
find t -empty; find t -name '*.log' -delete; test -e t/a/b/3.log || echo deleted
seq 1 10 | xargs -n 3 echo; seq 1 4 | xargs -I{} echo item-{}; echo a b c | xargs -P 2 -n 1 echo | sort
find t -name '*.txt' -printf '%d %f\n' | sort

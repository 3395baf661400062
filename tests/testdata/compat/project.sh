# Everything together: build a C project with make and gcc, archive it
# with tar and xz, pick its output apart with grep, sed and awk, commit it
# with git, record it in sqlite3, check it with python and perl, and look
# at the system with ps, free and nproc.
export HOME="$D" GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=Veil GIT_AUTHOR_EMAIL=veil@example.com
export GIT_COMMITTER_NAME=Veil GIT_COMMITTER_EMAIL=veil@example.com
export GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'
mkdir -p wc/src; cd wc
cat > src/wc.c <<'C'
#include <stdio.h>
#include <ctype.h>
int main(int argc, char **argv) {
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "r");
		if (!f) { perror(argv[i]); return 1; }
		long lines = 0, words = 0, chars = 0; int c, in = 0;
		while ((c = fgetc(f)) != EOF) {
			chars++; if (c == '\n') lines++;
			if (isspace(c)) in = 0; else if (!in) { in = 1; words++; }
		}
		fclose(f);
		printf("%s lines=%ld words=%ld chars=%ld\n", argv[i], lines, words, chars);
	}
	return 0;
}
C
printf 'all: bin/mywc\nbin/mywc: src/wc.c\n\tmkdir -p bin\n\t$(CC) -O2 -Wall -o $@ $<\ncheck: bin/mywc\n\t./bin/mywc Makefile src/wc.c\n.PHONY: all check\n' > Makefile
make -s all
make -s check | tee report.txt
grep -o 'words=[0-9]*' report.txt | sed 's/words=//' | awk '{s += $1} END {print "total words", s}'
sed -n 's/^\([^ ]*\) lines=\([0-9]*\).*/\1:\2/p' report.txt | sort
tar --sort=name --mtime=@0 --owner=0 --group=0 -cJf ../wc.tar.xz --exclude=bin .
xz -l ../wc.tar.xz | awk 'NR == 2 {print $1, $2}'; tar -tJf ../wc.tar.xz | sort | tr '\n' ' '; echo
git init -q -b main; git add Makefile src report.txt; git commit -q -m "wc tool"; git log --format='%h %an %s' | cat
sqlite3 ../wc.db "create table runs(file text, lines int); insert into runs select * from (select 'Makefile', $(awk -F'lines=' '/^Makefile/ {split($2, a, " "); print a[1]}' report.txt));
select file, lines from runs;"
/usr/bin/python3 -c 'import re, sys; t = open("report.txt").read(); print(sorted(int(x) for x in re.findall(r"chars=(\d+)", t)))'
/usr/bin/perl -ne 'print "$1\n" if /^(\S+) lines/' report.txt | sort | paste -sd' '
./bin/mywc /nonexistent 2>&1; echo "exit $?"
ps -o comm= -p $$; free | awk 'NR == 2 {print $1}'; nproc | grep -qx "$(getconf _NPROCESSORS_ONLN)" && echo "nproc agrees"

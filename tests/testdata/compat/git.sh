# git: a repository with commits, branches, a merge, tags and packs.
export HOME="$D" GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=Veil GIT_AUTHOR_EMAIL=veil@example.com
export GIT_COMMITTER_NAME=Veil GIT_COMMITTER_EMAIL=veil@example.com
export GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'
git init -q -b main repo; cd repo
seq 1 100 > numbers; echo "# title" > README; git add .; git commit -q -m first
git checkout -q -b feature; echo feature >> README; git commit -q -am feature
git checkout -q main; seq 101 110 >> numbers; git commit -q -am second
git merge -q --no-edit feature; git log --format='%h %s' | cat; git rev-parse HEAD
git tag -a v1 -m release; git describe; git diff --stat HEAD~2 HEAD | tail -1
git show HEAD~1:README; git branch --list | cat; git status --porcelain; echo dirty > x; git status --porcelain
git stash -u -q; git stash list | wc -l; git stash pop -q; git clean -q -f
git gc -q; git count-objects -v | grep -E '^(count|in-pack)'; git fsck --no-progress >/dev/null 2>&1 && echo fsck ok
git archive --format=tar HEAD | tar -t | sort; git log --oneline --graph | wc -l
git clone -q . ../clone; git -C ../clone log -1 --format=%s; git grep -c 10 -- numbers

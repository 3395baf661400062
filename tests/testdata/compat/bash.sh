# bash: the language, its redirections, job control in scripts.
set -u
f() { local x=$1; echo "fn $x ${#x}"; return 3; }; f hello || echo "rc $?"
declare -A h=([one]=1 [two]=2 [three]=3); for k in $(printf '%s\n' "${!h[@]}" | sort); do echo "$k=${h[$k]}"; done
arr=(c a b); IFS=$'\n' sorted=($(sort <<<"${arr[*]}")); unset IFS; echo "${sorted[@]} ${#arr[@]}"
s="Hello, World"; echo "${s,,} ${s^^} ${s/World/Bash} ${s:7:5} ${#s}"
printf -v v '%03d' 7; echo "$v"; echo $(( (1 << 10) + 7 % 3 ** 2 ))
shopt -s extglob
case foo.tar.gz in *.@(gz|xz)) echo extglob ok;; esac
while read -r a b; do echo "[$a|$b]"; done <<< $'x 1\ny 2'
diff <(printf '1\n2\n') <(printf '1\n3\n') | head -3 || true
exec {fd}>fd.txt; echo via-fd >&$fd; exec {fd}>&-; cat fd.txt
( trap 'echo trapped EXIT' EXIT; exit 4 ); echo "subshell $?"
trap 'echo got USR1' USR1; kill -USR1 $$; trap - USR1
sleep 0.2 & p=$!; wait $p; echo "waited $?"
( sleep 5 ) & k=$!; kill $k; wait $k; echo "killed $?"
coproc CAT { cat; }; echo through-coproc >&"${CAT[1]}"; exec {CAT[1]}>&-; read -r line <&"${CAT[0]}"; echo "$line"; wait
echo "$(echo nested $(echo deep))"; echo {1..5} {a..c}
x=5; until [ $x -le 2 ]; do x=$((x-1)); done; echo "until $x"
set -- a "b c" d; echo "$# $2"; shift; echo "$1"
mapfile -t lines < <(printf 'l1\nl2\nl3\n'); echo "${#lines[@]} ${lines[2]}"
echo pipe | { read -r p; echo "got $p"; }; echo "${PIPESTATUS[@]}"
type cd | head -1; command -v ls >/dev/null && echo "command -v ok"
cat <<-EOT
	heredoc $((2+2))
	EOT
ulimit -n >/dev/null && echo "ulimit ok"; umask 027; touch um; stat -c %a um
printf '%s\n' "${BASH_VERSINFO[0]}" | grep -q . && echo version ok
/bin/bash -c 'echo child $0 $1' zero one

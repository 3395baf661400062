# attr: user extended attributes on the sandbox's files.
touch f
setfattr -n user.color -v blue f; setfattr -n user.size -v 42 f
getfattr -d f | sort; getfattr -n user.color --only-values f; echo
setfattr -x user.size f; getfattr -d f | grep -c user.; attr -l f 2>/dev/null | sort

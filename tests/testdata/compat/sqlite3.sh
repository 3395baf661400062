# sqlite3: a database in rollback and WAL modes, joins, dumps.
db=t.db
sqlite3 "$db" "create table p(id integer primary key, name text, dept int); create table d(id int, dname text);
insert into d values (1, 'eng'), (2, 'ops');
insert into p(name, dept) values ('ann', 1), ('bob', 2), ('cat', 1), ('dan', 2), ('eve', 1);
create index pd on p(dept);"
sqlite3 "$db" "select dname, count(*), group_concat(name) from p join d on p.dept = d.id group by dname order by dname;"
sqlite3 "$db" "pragma journal_mode=wal;"; sqlite3 "$db" "begin; update p set name = upper(name) where dept = 1; commit;"
sqlite3 "$db" "select name from p order by id;" | paste -sd,
sqlite3 "$db" "with recursive c(x) as (select 1 union all select x + 1 from c where x < 1000) select sum(x) from c;"
sqlite3 "$db" "pragma integrity_check; pragma journal_mode;"
sqlite3 "$db" .dump | grep -c INSERT; sqlite3 -csv "$db" "select * from d;"
sqlite3 "$db" "pragma journal_mode=delete;" >/dev/null; ls | sort
sqlite3 :memory: "select json_extract('{\"a\": [1, 2, 3]}', '\$.a[1]'), printf('%05d', 42);"

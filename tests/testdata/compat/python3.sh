# python3: the standard library across threads, processes, files and
# signals (sockets and asyncio, which needs them, are python3-sockets).
/usr/bin/python3 - <<'PY'
import hashlib, json, os, subprocess, sys, tempfile, threading, zlib, sqlite3, struct, signal, select, socket
import multiprocessing, concurrent.futures, shutil, time
print(sys.version_info[0])
out = []
lock = threading.Lock()
def work(i):
    with lock:
        out.append(i * i)
ts = [threading.Thread(target=work, args=(i,)) for i in range(16)]
[t.start() for t in ts]; [t.join() for t in ts]
print(sorted(out)[-3:])
with concurrent.futures.ThreadPoolExecutor(4) as ex:
    print(sum(ex.map(lambda x: x * 2, range(100))))
def sq(x):
    return x * x
if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(2) as p:
        print(p.map(sq, range(6)))
print(subprocess.run(["/bin/echo", "child"], capture_output=True, text=True).stdout.strip())
print(subprocess.run("exit 7", shell=True).returncode)
d = tempfile.mkdtemp(dir=os.environ["D"])
p = os.path.join(d, "j.json")
with open(p, "w") as f:
    json.dump({"k": list(range(5))}, f)
print(json.load(open(p)), hashlib.sha256(b"veil").hexdigest()[:16])
print(len(zlib.compress(b"a" * 10000)), struct.pack("<IH", 1, 2).hex())
db = sqlite3.connect(os.path.join(d, "t.db"))
db.execute("create table t(x)"); db.executemany("insert into t values (?)", [(i,) for i in range(100)])
print(db.execute("select sum(x), count(*) from t").fetchone()); db.close()
r, w = os.pipe(); os.write(w, b"piped"); print(select.select([r], [], [], 1)[0] == [r], os.read(r, 5))
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s)); os.kill(os.getpid(), signal.SIGUSR1); print("signal", got)
pid = os.fork()
if pid == 0:
    os._exit(9)
print("child exit", os.waitpid(pid, 0)[1] >> 8)
for root, dirs, files in os.walk(d):
    print(sorted(files))
shutil.rmtree(d); print(os.path.exists(d))
print(os.cpu_count() == len(os.sched_getaffinity(0)))
PY

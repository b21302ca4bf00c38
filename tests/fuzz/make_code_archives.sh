#!/bin/sh
# Writes the code archive seeds of fuzz_code_archive into DIR: small tar.gz (and tar) files, both
# the usual shapes of function code and the unsafe ones the code store must refuse. Reproducible
# (fixed times, owners and gzip headers). run.sh calls it, so that no binary seed is committed.
#   tests/fuzz/make_code_archives.sh DIR
set -eu
[ $# -eq 1 ] || { echo "usage: make_code_archives.sh DIR" >&2; exit 2; }
mkdir -p "$1"
cd "$1"
python3 - <<'PY'
import gzip, io, tarfile

def entry(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.linkname = kind, mode, 0, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (data if kind == tarfile.REGTYPE else None)

def write(path, entries, compress=True):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, None if data is None else io.BytesIO(data))
    body = raw.getvalue()
    if compress:
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
            gz.write(body)
        body = out.getvalue()
    with open(path, "wb") as f:
        f.write(body)

hello = [entry("lib", tarfile.DIRTYPE, mode=0o755),
         entry("main.py", data=b"def handle(req):\n    return 'hello'\n"),
         entry("lib/util.py", data=b"X = 1\n"),
         entry("run.sh", data=b"#!/bin/sh\ncat\n", mode=0o755),
         entry("current", tarfile.SYMTYPE, link="main.py")]
write("hello.tar.gz", hello)
write("hello.tar", hello, compress=False)
write("hardlink.tar.gz", [entry("a.txt", data=b"same\n"), entry("b.txt", tarfile.LNKTYPE, link="a.txt")])
write("node_modules.tar.gz", [entry("node_modules/pkg/cli.js", data=b"console.log(1)\n", mode=0o755),
                              entry("node_modules/.bin/cli", tarfile.SYMTYPE, link="../pkg/cli.js"),
                              entry("./index.js", data=b"exports.handle = () => 'ok'\n")])
# Unsafe: each must be refused with 400 unsafe_archive, and write nothing outside the store.
write("escape_through_symlink.tar.gz", [entry("up", tarfile.SYMTYPE, link="."),
                                        entry("x", tarfile.SYMTYPE, link="up/.."),
                                        entry("x/evil", data=b"outside\n")])
write("dir_through_symlink.tar.gz", [entry("up", tarfile.SYMTYPE, link="."),
                                     entry("x", tarfile.SYMTYPE, link="up/.."),
                                     entry("x/newdir/", tarfile.DIRTYPE, mode=0o755)])
write("absolute.tar.gz", [entry("/etc/fnd-evil", data=b"x")])
write("dotdot.tar.gz", [entry("a/../../evil", data=b"x")])
write("symlink_out.tar.gz", [entry("out", tarfile.SYMTYPE, link="../../etc")])
write("fifo.tar.gz", [entry("pipe", tarfile.FIFOTYPE)])
write("twice.tar.gz", [entry("a", data=b"1"), entry("a", data=b"2")])
write("bomb.tar.gz", [entry("zeros", data=bytes(300 * 1024))])
PY

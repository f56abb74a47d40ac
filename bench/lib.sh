# Helpers shared by the bench scripts: `source "$(dirname "$0")/lib.sh"`.

now() { date +%s.%N; }

# median "t1 t2 ...": the middle value (the lower middle of an even count).
median() {
  tr ' ' '\n' <<< "$1" | grep -v '^$' | sort -g |
    awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}

# gen DIR NFILES NDIRS MIN MAX SEED: random files, sizes uniform in MIN..MAX bytes.
gen() {
  python3 - "$@" << 'EOF'
import os, random, sys
root, n, ndirs, lo, hi, seed = sys.argv[1], *map(int, sys.argv[2:])
rng = random.Random(seed)
for d in range(ndirs):
    os.makedirs(os.path.join(root, "d%04d" % d), exist_ok=True)
for i in range(n):
    with open(os.path.join(root, "d%04d" % (i % ndirs), "f%06d.bin" % i), "wb") as f:
        f.write(os.urandom(rng.randint(lo, hi)))
EOF
}

# warm DIR: reads every file once, so that timed runs find them in the page cache.
warm() { find "$1" -type f -print0 | xargs -0 cat > /dev/null; }

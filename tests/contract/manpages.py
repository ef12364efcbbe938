#!/usr/bin/env python3
"""tests/contract/manpages.py - the man pages keep up with the code: every configuration key of
daemon/core/config.c's table (and its environment variable) has an entry in
man/migrated.conf.5.scd, every command and long option of daemon/cli/cli.c (and each token
subcommand) one in man/migrated.1.scd, and each page, built with scdoc, renders with no
`man --warnings` complaint; the bash completion (completions/migrated) offers every command and
long option too. Not for the prose: a reader checks that.
Usage: manpages.py TOP. Prints one line "manpages: N passed, N failed"; exit 1 on a failure."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

top = sys.argv[1] if len(sys.argv) > 1 else "."
failures = []
passed = 0


def read(rel):
    with open(os.path.join(top, rel), encoding="utf-8") as f:
        return f.read()


def entries(page):
    """The bold terms that start a line (scdoc definition-list heads), split on ', '."""
    heads = set()
    for line in page.splitlines():
        for m in re.finditer(r"\*([^*\s][^*]*?)\*", line if line.startswith("*") else ""):
            heads.update(t.strip() for t in re.split(r",\s*|\s+", m.group(1)) if t.strip())
    return heads


def check(ok, message):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(message)


conf_page, cli_page = read("man/migrated.conf.5.scd"), read("man/migrated.1.scd")
config_c, cli_c = read("daemon/core/config.c"), read("daemon/cli/cli.c")

keys = re.findall(r'^\s*KR?\("([a-z_]+)",\s*(?:"([A-Z_]+)"|NULL)', config_c, re.M)
check(len(keys) > 10, "no configuration keys found in daemon/core/config.c")
conf_heads = entries(conf_page)
bold = set(re.findall(r"\*([^*\s]+)\*", conf_page))
for key, env in keys:
    check(key in conf_heads, f"config key {key} (daemon/core/config.c) has no entry in man/migrated.conf.5.scd")
    if env:
        check(env in bold, f"environment variable {env} of {key} is missing from man/migrated.conf.5.scd")

m = re.search(r"commands\[\]\s*=\s*\{([^}]*)\}", cli_c)
commands = re.findall(r'"([a-z]+)"', m.group(1)) if m else []
check(len(commands) > 5, "no command table found in daemon/cli/cli.c")
cli_heads = entries(cli_page)
for cmd in commands:
    check(cmd in cli_heads, f"command {cmd} (daemon/cli/cli.c) has no entry in man/migrated.1.scd")
for sub in ("add", "list", "remove"):
    check(f"token {sub}" in cli_page.replace("*", ""), f"token {sub} is missing from man/migrated.1.scd")
options = re.findall(r'^\s*\{"([a-z-]+)",\s*(?:no|required|optional)_argument', cli_c, re.M)
check(len(options) > 5, "no long options found in daemon/cli/cli.c")
for opt in options:
    check(f"--{opt}" in cli_heads, f"option --{opt} (daemon/cli/cli.c) has no entry in man/migrated.1.scd")

completion = read("completions/migrated")
m = re.search(r'local commands="([^"]*)"', completion)
offered = set(m.group(1).split()) if m else set()
for cmd in commands:
    check(cmd in offered, f"command {cmd} is not offered by completions/migrated")
for opt in options:
    check(f"--{opt}" in completion, f"option --{opt} is not offered by completions/migrated")

# Rendering: scdoc builds each page, man reports no warning (the acceptance check's command).
if shutil.which("scdoc") and shutil.which("man"):
    with tempfile.TemporaryDirectory() as tmp:
        for src in ("migrated.1", "migrated.conf.5", "migrated-api.7"):
            out = os.path.join(tmp, src)
            with open(os.path.join(top, "man", src + ".scd"), "rb") as fin, open(out, "wb") as fout:
                r = subprocess.run(["scdoc"], stdin=fin, stdout=fout, stderr=subprocess.PIPE)
            if r.returncode != 0:
                check(False, f"scdoc fails on man/{src}.scd: {r.stderr.decode().strip()}")
                continue
            env = dict(os.environ, MANWIDTH="80")
            w = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", out], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).stderr.decode().strip()
            check(not w, f"man --warnings on {src}: {w.splitlines()[0] if w else ''}")
else:
    check(False, "scdoc or man is missing (scripts/deps.sh installs them)")

for f in failures:
    print(f)
print(f"manpages: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)

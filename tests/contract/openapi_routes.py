#!/usr/bin/env python3
"""tests/contract/openapi_routes.py - api/openapi.yaml is valid YAML and documents exactly the
routes of api/routes.c (method and path), so the contract cannot fall behind the code.
Prints one line "contract: N passed, N failed"; exit 1 on a failure."""
import re
import sys

import yaml

top = sys.argv[1] if len(sys.argv) > 1 else "."
failures = []
passed = 0
try:
    spec = yaml.safe_load(open(f"{top}/api/openapi.yaml"))
    passed += 1
except yaml.YAMLError as e:
    print(f"api/openapi.yaml does not parse: {e}")
    print("contract: 0 passed, 1 failed")
    sys.exit(1)

table = open(f"{top}/api/routes.c").read()
code = set(re.findall(r'\{"(GET|POST|PUT|DELETE|PATCH)", "([^"]+)"', table))
documented = set()
for path, ops in (spec.get("paths") or {}).items():
    for method in ops:
        if method in ("get", "post", "put", "delete", "patch"):
            documented.add((method.upper(), path))

for method, path in sorted(code - documented):
    failures.append(f"{method} {path} is served (api/routes.c) but not in api/openapi.yaml")
for method, path in sorted(documented - code):
    failures.append(f"{method} {path} is in api/openapi.yaml but not served")
if not code:
    failures.append("no routes found in api/routes.c")
passed += len(code & documented)
for f in failures:
    print(f)
print(f"contract: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)

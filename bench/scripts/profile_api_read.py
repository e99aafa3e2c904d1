"""Profile of the API's single read (`GET /api/v1/contacts/{id}/consent`, SPEC §7 p99 ≤ 50 ms) in process,
with pyinstrument: a bench organisation of 1,000 informed contacts, a key with the consent scope, 500
reads through Django's test client (the full middleware and API stack, no HTTP server), the organisation
cleaned up after. Usage (a bench database, see docs/benchmarks.md):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/relance_bench \
    RELANCE_KEYSTORE_URL=postgres://postgres@127.0.0.1:5432/relance_bench_keys \
    .venv/bin/python bench/scripts/profile_api_read.py docs/benchmarks/profiles/api-read.txt
"""

import os
import random
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from relance.bench import http as bench_http  # noqa: E402
from relance.bench import world as bench_world  # noqa: E402

READS = 500
out = sys.argv[1] if len(sys.argv) > 1 else "api-read.txt"
world = bench_world.build(1000, lambda _text: None, messages=False)
try:
    secret = bench_http.api_key(world.org, ["contacts:read"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_HOST="127.0.0.1")
    ids = [str(c.pk) for c in world.people]
    for contact_id in ids[:50]:  # warm-up
        assert client.get(f"/api/v1/contacts/{contact_id}/consent").status_code == 200
    seen = []

    def record(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        client.get(f"/api/v1/contacts/{ids[0]}/consent")
    profiler = Profiler(interval=0.0005)
    times = []
    profiler.start()
    for _ in range(READS):
        t = time.perf_counter()
        response = client.get(f"/api/v1/contacts/{random.choice(ids)}/consent")  # noqa: S311
        times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, response.status_code
    profiler.stop()
    times.sort()
    with open(out, "w") as handle:
        handle.write(f"# {' '.join(sys.argv)}\n# {READS} reads in process (Django test client), PostgreSQL "
                     f"{connection.pg_version}; {len(seen)} queries per read; per read p50 "
                     f"{times[len(times) // 2]:.1f} ms, p99 {times[int(len(times) * 0.99)]:.1f} ms\n")
        handle.write("# queries of one read:\n" + "".join(f"#   {sql[:160]}\n" for sql in seen))
        handle.write(profiler.output_text(unicode=True, color=False, show_all=False))
    sys.stdout.write(f"written {out}\n")
finally:
    bench_http.revoke_keys(world.org)
    bench_world.clean_up(world.org, lambda _text: None)

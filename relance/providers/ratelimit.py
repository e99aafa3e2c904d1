"""Rate limits shared by every worker on every machine (issue 5 §6).

One token bucket per provider account: `rate_per_second` tokens a second, at most one second's worth
banked (so a quiet minute does not become a burst the provider refuses). `take(account, n)` grants
up to n tokens at once and answers how many; the caller sends that many and asks again later.

The bucket lives where every worker can see it: a row of `RateBucket` updated under a row lock in
PostgreSQL (one short transaction per take, a few per second per worker), or a Redis key updated by
one Lua script when RELANCE_REDIS_URL is set (cheaper under many workers). Both use the wall clock
of the machine that takes: workers' clocks must be NTP-synchronised, as they must be anyway.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.db import transaction

from .models import ProviderAccount, RateBucket


def capacity(rate: float) -> float:
    return max(rate, 1.0)


def refill(tokens: float, updated: float, rate: float, now: float) -> float:
    """Pure: the tokens in a bucket last left with `tokens` at `updated`."""
    return min(capacity(rate), tokens + max(0.0, now - updated) * rate)


class DatabaseLimiter:
    def take(self, account: ProviderAccount, wanted: int, now: float | None = None) -> int:
        rate = account.rate_per_second
        if rate <= 0 or wanted <= 0:
            return max(wanted, 0)
        with transaction.atomic():
            bucket, created = RateBucket.objects.select_for_update().get_or_create(
                account_id=account.pk, defaults={"tokens": capacity(rate), "updated": time.time()})
            now = time.time() if now is None else now
            tokens = refill(bucket.tokens, bucket.updated, rate, now)
            granted = min(wanted, math.floor(tokens))
            RateBucket.objects.filter(pk=bucket.pk).update(tokens=tokens - granted, updated=now)
        return granted


# KEYS[1] the bucket; ARGV rate, capacity, now, wanted. Returns the tokens granted.
_LUA = """
local rate, cap, now, wanted = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens, updated = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, updated = cap, now end
tokens = math.min(cap, tokens + math.max(0, now - updated) * rate)
local granted = math.min(wanted, math.floor(tokens))
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - granted), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return granted
"""


class RedisLimiter:
    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url)
        self.script = self.client.register_script(_LUA)

    def take(self, account: ProviderAccount, wanted: int, now: float | None = None) -> int:
        rate = account.rate_per_second
        if rate <= 0 or wanted <= 0:
            return max(wanted, 0)
        now = time.time() if now is None else now
        keys = [f"relance:rate:{account.pk}"]
        return int(self.script(keys=keys, args=[rate, capacity(rate), f"{now:.6f}", wanted]))


def limiter():
    url = getattr(settings, "RELANCE_REDIS_URL", "")
    return RedisLimiter(url) if url else DatabaseLimiter()

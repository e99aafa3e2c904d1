"""Privacy operations (SPEC §3.5, §3.6, §3.8): rights requests and their deadlines, access exports,
erasure by crypto-shredding, restriction, retention and purge, the Art. 30 register, breaches and
the monthly compliance report. `personal_data.py` is THE list of what Relance holds about a person.
"""

"""Benchmarks of SPEC §7 (`relance bench dispatch`, `relance bench stop`): they build their own
organisation, measure, write JSON under bench/results/ and clean up after themselves."""

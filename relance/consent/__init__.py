"""Purposes, notices, the consent ledger and its projection, and the pure decision to send."""

"""Test support code shared by the test suites (database harnesses, helpers)."""

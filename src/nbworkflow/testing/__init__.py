"""Test doubles shipped for users' tests (fake vendor servers)."""

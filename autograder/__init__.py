"""Autograder: checks registry, sandboxed runner and reports."""

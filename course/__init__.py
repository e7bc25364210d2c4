"""Course definition and instructor tooling (build, release, grade)."""

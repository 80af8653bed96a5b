"""`kubectl rollouts`: watch, inspect and edit Rollouts from a terminal or a CI script.

Layout: a pure core (`judge`, `edits`, `render`, `args`, `durations`, `exitcodes`) that
imports nothing that talks to a cluster, and a thin I/O shell (`cluster` reads and writes,
`commands` wires reads to the core and prints, `main` maps errors to exit codes).
"""

"""The pull-runner agent (`autograder runner`): claims jobs from the runner API, runs
their steps with the services' own step functions and a local sandbox, and reports.

Like the CLI and the in-process mode, a composition root: it may import every service.
"""

"""The demo: the whole stack grading the bundled example submissions."""
